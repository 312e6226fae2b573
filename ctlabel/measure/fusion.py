"""Fusing the reads of several readers into one mask: STAPLE or majority vote (SimpleITK).

:func:`fuse` combines N label masks on one grid with SimpleITK's ``MultiLabelSTAPLEImageFilter``
(Warfield's STAPLE, multi-label form of Rohlfing et al.) or ``LabelVotingImageFilter`` (majority
vote) and returns a :class:`Fusion`: the fused mask, a disagreement map (the voxels where the
readers differ, each holding how many readers differ from the fusion there) and per reader a
:class:`ReaderFigures`: Dice with the fusion per label and its mean, and per label sensitivity and
specificity. With STAPLE these two are STAPLE's own estimates, read from its confusion matrices
(``GetConfusionMatrix(k)``: rows the reader's label, columns the estimated true label, each column
summing to 1): sensitivity of label ``l`` is ``P(reader says l | truth l)``; specificity is
``P(reader does not say l | truth not l)``, the other true labels weighted by their voxel counts
in the fusion. With majority vote they are counted against the fused mask.

A voxel where the vote (or STAPLE's posterior) ties gets no label (0); the disagreement map shows it.

:func:`lowest_dice` is the rule of adaptive reading: the lowest per-label Dice of two reads.
:func:`recorded_figures` reads the figures back from a case record's fused submission.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from ctlabel.errors import InputError
from ctlabel.model import Action, CaseRecord, FusionMethod

#: Readers are at most this many (the confusion matrices and the votes grow with it).
MAX_READERS = 64


@dataclass(frozen=True)
class ReaderFigures:
    """How one reader's mask compares with the fusion.

    Attributes
    ----------
    reader : str
        Who read (a name, or the slot).
    dice : dict of int to float
        Per label (present in the reader's mask or the fusion): Dice with the fusion.
    sensitivity, specificity : dict of int to float or None
        Per label: STAPLE's estimates (majority vote: counted against the fusion); None for a
        label absent from the fusion (sensitivity) or covering every voxel (specificity).
    """

    reader: str
    dice: dict[int, float]
    sensitivity: dict[int, float | None]
    specificity: dict[int, float | None]

    @property
    def mean_dice(self) -> float | None:
        """The mean of the per-label Dice (None without any label)."""
        return float(np.mean(list(self.dice.values()))) if self.dice else None

    def record(self) -> dict:
        """As written into a case event (labels as strings, figures rounded to 4 places)."""
        def r(d: dict[int, float | None]) -> dict[str, float | None]:
            return {str(k): None if v is None else round(float(v), 4) for k, v in sorted(d.items())}

        mean = self.mean_dice
        return {"Reader": self.reader, "MeanDice": None if mean is None else round(mean, 4), "Dice": r(dict(self.dice)),
                "Sensitivity": r(self.sensitivity), "Specificity": r(self.specificity)}

    @classmethod
    def from_record(cls, rec: dict) -> ReaderFigures:
        """The figures as :meth:`record` wrote them."""
        def p(d: dict | None) -> dict:
            return {int(k): None if v is None else float(v) for k, v in (d or {}).items()}

        return cls(str(rec["Reader"]), p(rec.get("Dice")), p(rec.get("Sensitivity")), p(rec.get("Specificity")))


@dataclass(frozen=True)
class Fusion:
    """N reads fused into one mask.

    Attributes
    ----------
    method : FusionMethod
        STAPLE or majority vote.
    labels : numpy.ndarray
        The fused mask (the readers' dtype).
    disagreement : numpy.ndarray
        uint8: 0 where every reader gave the same label, else how many readers differ from the fusion.
    readers : tuple of ReaderFigures
        One per read, in the order given.
    """

    method: FusionMethod
    labels: np.ndarray
    disagreement: np.ndarray
    readers: tuple[ReaderFigures, ...] = field(default_factory=tuple)

    @property
    def disagreement_voxels(self) -> int:
        """How many voxels the readers label differently."""
        return int(np.count_nonzero(self.disagreement))

    def record(self) -> dict:
        """The figures as written into the case event of the fused submission."""
        return {"Method": str(self.method), "DisagreementVoxels": self.disagreement_voxels,
                "Readers": [r.record() for r in self.readers]}


def fuse(masks: Sequence[np.ndarray], method: FusionMethod | str = FusionMethod.STAPLE,
         readers: Sequence[str] | None = None) -> Fusion:
    """Fuse N label masks of one grid by STAPLE or majority vote (SimpleITK).

    Parameters
    ----------
    masks : sequence of numpy.ndarray
        Two or more non-negative integer label arrays of one shape.
    method : FusionMethod or str
        ``staple`` (``MultiLabelSTAPLEImageFilter``) or ``vote`` (``LabelVotingImageFilter``).
    readers : sequence of str, optional
        Who read each mask (default ``1``, ``2``, ...).

    Returns
    -------
    Fusion
        The fused mask, the disagreement map and the figures of each reader.

    Raises
    ------
    InputError
        Fewer than two masks, masks of different shapes, negative or non-integer labels, or an
        unknown method.
    """
    import SimpleITK as sitk

    method = _method(method)
    arrays = [np.asarray(m) for m in masks]
    names = [str(r) for r in readers] if readers is not None else [str(i + 1) for i in range(len(arrays))]
    _check(arrays, names)
    dtype = arrays[0].dtype
    top = int(max(int(a.max()) if a.size else 0 for a in arrays))
    pixel = np.uint8 if top < 255 else np.uint16 if top < 65535 else np.uint32
    images = [sitk.GetImageFromArray(np.ascontiguousarray(a, dtype=pixel)) for a in arrays]
    if method is FusionMethod.STAPLE:
        staple = sitk.MultiLabelSTAPLEImageFilter()
        staple.SetLabelForUndecidedPixels(0)
        fused_img = staple.Execute(images)
        count = top + 1
        matrices = [np.asarray(staple.GetConfusionMatrix(k), dtype=float).reshape(count + 1, count)
                    for k in range(len(arrays))]
    else:
        vote = sitk.LabelVotingImageFilter()
        vote.SetLabelForUndecidedPixels(0)
        fused_img = vote.Execute(images)
        matrices = []
    fused = sitk.GetArrayFromImage(fused_img).astype(dtype, copy=False)
    count = top + 1
    truth = np.bincount(fused.ravel().astype(np.int64), minlength=count)[:count]
    figures = []
    for k, (a, name) in enumerate(zip(arrays, names, strict=True)):
        joint = np.bincount(a.ravel().astype(np.int64) * count + fused.ravel().astype(np.int64),
                            minlength=count * count).reshape(count, count)  # [reader label, fused label]
        present = sorted(int(v) for v in np.flatnonzero(joint.sum(0) + joint.sum(1)) if v != 0)
        dice = {lab: float(2 * joint[lab, lab] / (joint[lab].sum() + joint[:, lab].sum())) for lab in present}
        if matrices:
            sens, spec = _from_matrix(matrices[k], truth, present)
        else:
            sens, spec = _from_counts(joint, present)
        figures.append(ReaderFigures(name, dice, sens, spec))
    return Fusion(method, fused, disagreement_map(arrays, fused), tuple(figures))


def lowest_dice(a: np.ndarray, b: np.ndarray) -> float | None:
    """The lowest per-label Dice of two masks (labels present in either), None when both are empty.

    The rule of adaptive reading: the worst label decides, because a mean over labels hides a
    structure the two readers drew very differently.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"masks of different shapes {a.shape} and {b.shape} cannot be compared")
    count = int(max(a.max(initial=0), b.max(initial=0))) + 1
    joint = np.bincount(a.ravel().astype(np.int64) * count + b.ravel().astype(np.int64),
                        minlength=count * count).reshape(count, count)
    rows, cols = joint.sum(1), joint.sum(0)
    present = [lab for lab in range(1, count) if rows[lab] + cols[lab]]
    if not present:
        return None
    return float(min(2 * joint[lab, lab] / (rows[lab] + cols[lab]) for lab in present))


def recorded_figures(record: CaseRecord) -> tuple[FusionMethod, tuple[ReaderFigures, ...]] | None:
    """The fusion figures of the case's latest fused submission (from ``case.json``), or None.

    Parameters
    ----------
    record : CaseRecord
        The case record (:func:`ctlabel.case.record.load_case_record`).

    Returns
    -------
    tuple or None
        The method and the figures of each reader (named by reader), None if no submission was fused.
    """
    for ev in reversed(record.events):
        fusion = ev.fusion if ev.action is Action.SUBMITTED else None
        if fusion:
            return _method(fusion["Method"]), tuple(ReaderFigures.from_record(r) for r in fusion.get("Readers", []))
    return None


def write_disagreement(reads: Sequence[str | os.PathLike], fused: str | os.PathLike,
                       dest: str | os.PathLike) -> Path:
    """Write the :func:`disagreement_map` of read mask files against a fused mask file as a NIfTI.

    Parameters
    ----------
    reads : sequence of path
        The readers' masks (NIfTI, one grid).
    fused : path
        Their fusion (NIfTI); its affine and header are the output's.
    dest : path
        The file written (uint8: 0 where the reads agree, else how many differ from the fusion).

    Returns
    -------
    Path
        ``dest``.
    """
    import nibabel as nib

    from ctlabel.io.atomic import atomic_open

    def load(path) -> nib.Nifti1Image:
        return cast("nib.Nifti1Image", nib.load(os.fspath(path)))

    img = load(fused)
    counts = disagreement_map([np.asanyarray(load(p).dataobj) for p in reads], np.asanyarray(img.dataobj))
    out = nib.Nifti1Image(counts, img.affine)
    out.set_qform(img.affine, code=1)
    out.set_sform(img.affine, code=1)
    dest = Path(dest)
    with atomic_open(dest, "wb") as f:
        f.write(gzip.compress(out.to_bytes(), compresslevel=1))
    return dest


def _method(method: FusionMethod | str) -> FusionMethod:
    try:
        return FusionMethod(str(method).lower())
    except ValueError:
        raise InputError(f"no fusion method {method!r}; it is one of {', '.join(m.value for m in FusionMethod)}",
                         options=("fusion",)) from None


def _check(arrays: list[np.ndarray], names: list[str]) -> None:
    if len(arrays) < 2:
        raise InputError(f"fusion needs two masks or more, not {len(arrays)}")
    if len(arrays) > MAX_READERS or len(names) != len(arrays):
        raise InputError(f"{len(arrays)} masks for {len(names)} readers (at most {MAX_READERS})")
    for a in arrays:
        if a.shape != arrays[0].shape:
            raise InputError(f"masks of different shapes {arrays[0].shape} and {a.shape} cannot be fused")
        if not np.issubdtype(a.dtype, np.integer) or (a.size and int(a.min()) < 0):
            raise InputError(f"a mask to fuse holds non-negative integer labels, not {a.dtype}")


def _from_matrix(matrix: np.ndarray, truth: np.ndarray, present: list[int]
                 ) -> tuple[dict[int, float | None], dict[int, float | None]]:
    """Sensitivity and specificity per label from STAPLE's confusion matrix [reader label, true label]."""
    sens: dict[int, float | None] = {}
    spec: dict[int, float | None] = {}
    for lab in present:
        sens[lab] = float(matrix[lab, lab]) if truth[lab] else None
        others = truth.astype(float).copy()
        others[lab] = 0
        total = others.sum()
        spec[lab] = float(np.dot(others, 1.0 - matrix[lab, :len(truth)]) / total) if total else None
    return sens, spec


def _from_counts(joint: np.ndarray, present: list[int]) -> tuple[dict[int, float | None], dict[int, float | None]]:
    """Sensitivity and specificity per label counted against the fusion (joint[reader, fused])."""
    total = joint.sum()
    sens: dict[int, float | None] = {}
    spec: dict[int, float | None] = {}
    for lab in present:
        truth, said, both = joint[:, lab].sum(), joint[lab].sum(), joint[lab, lab]
        sens[lab] = float(both / truth) if truth else None
        negatives = total - truth
        spec[lab] = float((negatives - (said - both)) / negatives) if negatives else None
    return sens, spec


def disagreement_map(arrays: Sequence[np.ndarray], fused: np.ndarray) -> np.ndarray:
    """Where the readers differ: uint8, 0 where all agree, else how many readers differ from ``fused``.

    Parameters
    ----------
    arrays : sequence of numpy.ndarray
        The readers' masks (one shape).
    fused : numpy.ndarray
        The fusion of them (:func:`fuse`), or any mask to count the readers against.
    """
    arrays = [np.asarray(a) for a in arrays]
    fused = np.asarray(fused)
    differ = np.zeros(fused.shape, dtype=bool)
    for a in arrays[1:]:
        differ |= a != arrays[0]
    out = np.zeros(fused.shape, dtype=np.uint8)
    for a in arrays:
        out += (a != fused) & differ
    return out


__all__ = ["MAX_READERS", "Fusion", "ReaderFigures", "disagreement_map", "fuse",
           "write_disagreement", "lowest_dice", "recorded_figures"]
