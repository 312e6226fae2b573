"""``export_dataset``: approved case versions out to an nnU-Net, MONAI or BIDS training set.

Two passes: the first reads only the case records and label tables (which version,
which labels, refusals); the second reads voxels one case at a time, checks every hash
against the case's records, remaps labels, resamples a tilted case when asked, writes
the files and the manifest entry. The manifest is rewritten after each case, so an
interrupted export can be completed with ``update``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from ctlabel.errors import CtlabelError, InputError
from ctlabel.export import bids, monai, nnunet
from ctlabel.export.dataset import LabelMap, Refused, Selected, export_id, find_export_cases, select_case
from ctlabel.export.manifest import case_entry, new_manifest, require_out, write_manifest, written_files
from ctlabel.geometry import is_sheared
from ctlabel.io.atomic import atomic_path
from ctlabel.io.nifti import read_nifti, write_nifti
from ctlabel.progress import Progress
from ctlabel.volume import voxel_hash

FORMATS: dict[str, ModuleType] = {"nnunet": nnunet, "monai": monai, "bids": bids}
DEFAULT_VALIDATION_FRACTION = 0.2


@dataclass
class ExportOptions:
    """Settings of one export.

    Attributes
    ----------
    fmt : str
        ``nnunet``, ``monai`` or ``bids``.
    include_unapproved : bool
        Export cases without an approved version (latest version, else the draft), marked unapproved.
    update : bool
        Add to / refresh an earlier export in OUT instead of requiring an empty folder.
    reviewed_only : bool
        Leave out (refuse) the cases the review policy accepted without a reviewer.
    resample_tilted : bool
        Resample a gantry-tilted (sheared) case onto the orthonormal grid instead of refusing it.
    split : int, optional
        nnU-Net: write ``splits_final.json`` with this many folds.
    validation_fraction : float, optional
        MONAI: the share of cases in ``validation`` (default: the earlier export's with
        ``update``, else 0.2).
    consecutive : bool
        Renumber labels 1..n also where the format does not need it (nnU-Net always does).
    """

    fmt: str
    include_unapproved: bool = False
    update: bool = False
    reviewed_only: bool = False
    resample_tilted: bool = False
    split: int | None = None
    validation_fraction: float | None = None
    consecutive: bool = False

    def check(self) -> ModuleType:
        """The format module; raise :class:`InputError` for a bad combination."""
        if self.fmt not in FORMATS:
            raise InputError(f"unknown format {self.fmt!r}; choose from {sorted(FORMATS)}")
        if self.split is not None and (self.fmt != "nnunet" or self.split < 2):
            raise InputError("a split into K folds needs the nnunet format and K of at least 2",
                             options=("split", "format"))
        if self.validation_fraction is not None and not 0 <= self.validation_fraction < 1:
            raise InputError(f"the validation fraction must lie in [0, 1), not {self.validation_fraction}",
                             options=("validation_fraction",))
        return FORMATS[self.fmt]

    def inherit(self, previous: dict | None) -> None:
        """With ``update``: keep the earlier export's split and validation fraction unless given anew."""
        earlier = (previous or {}).get("Options") or {}
        if self.split is None and self.fmt == "nnunet":
            self.split = earlier.get("Split")
        if self.validation_fraction is None:
            self.validation_fraction = earlier.get("ValidationFraction")
            if self.validation_fraction is None:
                self.validation_fraction = DEFAULT_VALIDATION_FRACTION

    def to_manifest(self) -> dict:
        return {"IncludeUnapproved": self.include_unapproved, "ReviewedOnly": self.reviewed_only,
                "ResampleTilted": self.resample_tilted,
                "Split": self.split, "ValidationFraction": self.validation_fraction if self.fmt == "monai" else None,
                "Consecutive": self.consecutive}


@dataclass
class ExportReport:
    """What an export did: cases written, cases refused (with the reason), index files, problems."""

    out: str
    fmt: str
    exported: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    index_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    manifest: str | None = None

    @property
    def ok(self) -> bool:
        return not self.refused and not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "format": self.fmt, "out": self.out, "manifest": self.manifest,
                "exported": self.exported, "refused": self.refused, "index_files": self.index_files,
                "problems": self.problems}


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _load_mask(sel: Selected):
    """The chosen version (or draft), checked against its sidecar and the case record."""
    case = sel.case
    mask = case.load_draft() if sel.number is None else case.load_version(sel.number)
    assert mask is not None  # a draft is selected only when it exists
    path = mask.path
    if mask.provenance is None:
        raise Refused("the mask has no provenance sidecar", path)
    if not mask.hash_matches:
        raise Refused("the mask voxels differ from its provenance sidecar (edited outside ctlabel?)", path)
    if sel.number is not None:
        decided = sel.decision if sel.approved else sel.events.get("created")
        if decided is None:
            raise Refused(f"version {sel.version} is not in the case record (run ctlabel verify)", path)
        if decided.voxel_sha256 != mask.voxel_hash:
            what = "approved" if sel.approved else "frozen"
            raise Refused(f"version {sel.version} was changed after it was {what} (voxel hash differs from "
                          "case.json; run ctlabel verify)", path)
    return mask


def export_case(out: Path, sel: Selected, cid: str, files: dict, labels: LabelMap, fmt: ModuleType,
                manifest: dict, resample_tilted: bool) -> dict:
    """Write one case; return its manifest entry.

    Raises
    ------
    Refused
        A hash does not match the case's records, an unknown label value, or a tilted case
        without ``resample_tilted``.
    """
    from ctlabel.case.integrity import expected_image_hash

    case = sel.case
    image = read_nifti(case.image_path)
    image_hash = voxel_hash(image.array, image.affine)
    if image_hash != sel.image_record.get("VoxelSHA256"):
        raise Refused("the image voxels differ from ct.json (changed outside ctlabel?)", case.image_path)
    vouched = expected_image_hash(sel.record)
    if vouched and vouched != image_hash:
        raise Refused("the image voxels differ from the hash in case.json (run ctlabel verify)", case.image_path)
    mask = _load_mask(sel)
    array = labels.apply(mask.array, mask.path)
    padded = [int(k) for k in sel.image_record.get("Geometry", {}).get("MissingSlices", [])]
    out_image, affine, resampled = None, image.affine, None
    if is_sheared(image.affine):
        if not resample_tilted:
            raise Refused("the grid is sheared (gantry tilt); a training framework would misplace its voxels. "
                          "Resample it onto an orthonormal grid, or leave it out", case.image_path,
                              options=("resample_tilted",))
        from ctlabel.export.resample import resample_orthonormal

        out_image, array, affine, resampled = resample_orthonormal(image.array, array, image.affine,
                                                                   sel.image_record.get("Source"))
    for f in files.values():
        (out / f).parent.mkdir(parents=True, exist_ok=True)
    if out_image is None:
        _copy(case.image_path, out / files["image"])
    else:
        write_nifti(out / files["image"], out_image, affine, descrip="ctlabel CT (HU), resampled")
    write_nifti(out / files["label"], array, affine, intent_label=True, descrip="ctlabel labels")
    exported = {
        "image_hash": image_hash if out_image is None else voxel_hash(out_image, affine),
        "mask_hash": voxel_hash(array, affine),
        "padded_label_voxels": int(np.count_nonzero(mask.array[padded])) if padded else 0,
        "resampled": resampled,
        "annotator": mask.provenance.annotator if mask.provenance is not None else None,
    }
    entry = case_entry(sel, cid, files, mask.voxel_hash, exported)
    fmt.write_case_extra(out, cid, files, manifest, entry)
    return entry


def _export_task(args: tuple) -> tuple[dict | None, str | None]:
    """Write one case (see :func:`export_case`) where the executor runs it: (entry, None) or (None, reason)."""
    out, sel, cid, files, labels, fmt_name, manifest, resample_tilted = args
    try:
        return export_case(out, sel, cid, files, labels, FORMATS[fmt_name], manifest, resample_tilted), None
    except CtlabelError as exc:
        return None, str(exc)


def export_dataset(sources: list[str | os.PathLike], out: str | os.PathLike, options: ExportOptions,
                   pool: Executor | None = None,
                   listener: Callable[[Progress, str], None] | None = None) -> ExportReport:
    """Export the approved version of each case under ``sources`` into ``out``.

    Parameters
    ----------
    sources : list of path
        Case folders, or folders holding case folders (a project).
    out : path
        The dataset folder; must be empty or absent unless ``options.update``.
    options : ExportOptions
    pool : concurrent.futures.Executor, optional
        Where the cases are written, one task per case (:func:`ctlabel.intake.batch.executor`, e.g.
        a Dask cluster); the manifest is written here as the results come back in case
        order. Default: one case after the other in this process.
    listener : callable, optional
        Told of each case written or refused in the second pass, ``listener(progress, case)``
        (:class:`ctlabel.progress.Progress`; its ``errors`` name the refused cases and why).

    Returns
    -------
    ExportReport
        ``ok`` is False when a case was refused or an index file could not be made.

    Raises
    ------
    InputError
        Bad options, no case found, a non-empty OUT without ``update``, an index file in
        OUT that ctlabel did not write, or OUT holding another format's export.
    """
    fmt = options.check()
    cases = find_export_cases(sources)
    out = Path(out)
    previous = require_out(out, options.update, list(fmt.INDEX_FILES))
    if previous and previous.get("Format") != options.fmt:
        raise InputError(f"holds an export in format {previous.get('Format')!r}; an update keeps the format", out,
                         options=("format",))
    options.inherit(previous)
    manifest = previous or new_manifest(options.fmt, options.to_manifest())
    labels = LabelMap.from_manifest(previous) if previous else LabelMap(
        consecutive=fmt.CONSECUTIVE or options.consecutive)
    ours = written_files(previous)
    report = ExportReport(str(out), options.fmt)

    todo: list[tuple[Selected, str, dict]] = []
    ids: dict[str, str] = {}
    for case in cases:
        try:
            sel = select_case(case, include_unapproved=options.include_unapproved, reviewed_only=options.reviewed_only)
            cid = export_id(sel.name, options.fmt)
            if cid in ids:
                raise Refused(f"another case in this export has the id {cid!r}: {ids[cid]}", case.root)
            why = labels.conflict(sel.table)
            if why:
                raise Refused(why, case.labels_path)
            affine = np.asarray(sel.image_record.get("Geometry", {}).get("Affine", np.eye(4)), dtype=float)
            if is_sheared(affine) and not options.resample_tilted:
                raise Refused("the grid is sheared (gantry tilt); a training framework would misplace its voxels. "
                              "Resample it onto an orthonormal grid, or leave it out", case.image_path,
                              options=("resample_tilted",))
            files = fmt.case_files(cid)
            foreign = [f for f in files.values() if (out / f).exists() and f not in ours]
            if foreign:
                raise Refused("exists and was not written by ctlabel export-dataset; refusing to replace it",
                              out / foreign[0])
        except CtlabelError as exc:
            report.refused.append({"case": str(case.root), "reason": str(exc), **({"options": list(exc.options)}
                                                                                 if exc.options else {})})
            continue
        labels.add(sel.table)
        ids[cid] = str(case.root)
        todo.append((sel, cid, files))
    if previous is None:
        labels.finish()
    if not todo and previous is None:
        return report
    manifest.update(labels.to_manifest())
    manifest["Options"] = options.to_manifest()
    out.mkdir(parents=True, exist_ok=True)
    # the files about to be written are ours even if the export is interrupted half way
    pending = manifest.setdefault("Pending", {})
    pending.update({cid: files for _, cid, files in todo})
    write_manifest(out, manifest)
    from ctlabel.intake.batch import InlineExecutor, results, task_failure

    shared = {k: v for k, v in manifest.items() if k not in ("Cases", "Pending", "Refused")}  # labels, options
    tasks = [(out, sel, cid, files, labels, options.fmt, shared, options.resample_tilted) for sel, cid, files in todo]
    bar = Progress(len(tasks), "cases", enabled=False, listener=listener)
    for task, (entry, why) in results(pool or InlineExecutor(), _export_task, tasks,
                                      lambda _, exc: (None, task_failure(exc))):
        sel, cid, files = task[1:4]
        bar.step(sel.name, error="" if entry is not None else str(why))
        if entry is None:
            report.refused.append({"case": str(sel.case.root), "reason": why})
            if not any((out / f).exists() for f in files.values()):
                pending.pop(cid, None)
            continue
        pending.pop(cid, None)
        manifest["Cases"] = [e for e in manifest["Cases"] if e["Id"] != cid] + [entry]
        write_manifest(out, manifest)  # small beside the images; an interrupted export stays traceable
        report.exported.append({"case": str(sel.case.root), "id": cid, "version": sel.version,
                                "approved": sel.approved, "review": sel.review, "files": files,
                                "resampled": entry["Resampled"] is not None,
                                "padded_slices": entry["PaddedSlices"]})
    manifest["Refused"] = report.refused
    written, problems = fmt.write_index(out, manifest, options.to_manifest())
    report.index_files, report.problems = written, problems
    manifest["IndexFiles"] = sorted(set(manifest.get("IndexFiles", [])) | set(written))
    write_manifest(out, manifest)
    report.manifest = str(out / "ctlabel_manifest.json")
    return report


__all__ = ["FORMATS", "ExportOptions", "ExportReport", "export_case", "export_dataset"]
