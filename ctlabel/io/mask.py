"""Save and load label masks (``*_dseg.nii.gz`` + ``*_dseg.json``) on an image's exact grid."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from ctlabel.errors import CtlabelError, InputError, ProvenanceError
from ctlabel.io.atomic import write_json
from ctlabel.io.labels import MAX_LABEL, LabelTable
from ctlabel.io.nifti import INTENT_LABEL, read_nifti, write_nifti
from ctlabel.io.provenance import (
    SCHEMA_VERSION,
    geometry_record,
    labels_record,
    now_utc,
    read_mask_sidecar,
    sidecar_path,
    software,
    validate,
)
from ctlabel.model import MASK_KEYS, Event, MaskProvenance, SliceEdits
from ctlabel.volume import Grid, SourceIdentity, Volume, voxel_hash


@dataclass
class Mask:
    """A label mask read back from disk.

    Attributes
    ----------
    array : numpy.ndarray
        Labels in (slice, row, column) order, uint8 or uint16.
    affine : numpy.ndarray
        The on-disk affine.
    provenance : MaskProvenance or None
        The sidecar (authoritative), or None for a foreign mask.
    path : pathlib.Path
    """

    array: np.ndarray
    affine: np.ndarray
    provenance: MaskProvenance | None = None
    path: Path | None = None

    @property
    def grid(self) -> Grid:
        return Grid(tuple(int(s) for s in self.array.shape), self.affine)

    @property
    def voxel_hash(self) -> str:
        return voxel_hash(self.array, self.affine)

    @property
    def hash_matches(self) -> bool:
        """True when the voxels are those the sidecar recorded (not edited outside ctlabel)."""
        return self.provenance is not None and self.provenance.voxel_sha256 == self.voxel_hash

    @property
    def edits(self) -> SliceEdits:
        """The painted and interpolated slices the sidecar records (none for a foreign mask)."""
        return self.provenance.edits if self.provenance is not None else SliceEdits()

    @property
    def methods(self) -> dict[int, dict]:
        """Label -> how it was made (``Labels[k].Method``), for the labels that record one."""
        return self.provenance.methods if self.provenance is not None else {}

    @property
    def painted(self) -> dict[int, list[int]]:
        """Label -> painted slices along :attr:`axis` (a view of :attr:`edits`)."""
        return {k: list(v) for k, v in self.edits.painted.items()}

    @property
    def interpolated(self) -> dict[int, list[int]]:
        """Label -> interpolated slices along :attr:`axis` (a view of :attr:`edits`)."""
        return {k: list(v) for k, v in self.edits.interpolated.items()}

    @property
    def axis(self) -> int:
        """The axis the slices in ``painted`` and ``interpolated`` run along (0 by default)."""
        return self.edits.axis


def labels_present(labels: np.ndarray) -> list[int]:
    """The non-zero label values in an array, ascending.

    Looks only at the non-zero voxels: a mask is mostly background, and sorting
    the whole volume (``np.unique``) costs several times more on every save.
    """
    return [int(v) for v in np.unique(labels[labels != 0])]


def mask_dtype(labels: np.ndarray) -> np.dtype:
    """uint8 when every value fits, else uint16; never changes a label value."""
    if labels.size == 0:
        return np.dtype(np.uint8)
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi > MAX_LABEL:
        raise InputError(f"label values must lie in 0..{MAX_LABEL}, found {lo}..{hi}")
    if not np.issubdtype(labels.dtype, np.integer) and not np.array_equal(labels, np.round(labels)):
        raise InputError("label values must be whole numbers")
    return np.dtype(np.uint8 if hi <= 255 else np.uint16)


@dataclass(frozen=True)
class MaskFields:
    """What a mask's provenance records beside its voxels (the keywords of :func:`save_mask`).

    Attributes
    ----------
    source : SourceIdentity or dict, optional
        The DICOM series the image came from.
    label_table : LabelTable, optional
        Names and colours of the labels.
    edits : SliceEdits
        The painted and interpolated slices per label, and their axis.
    annotator : str, optional
        Who painted it.
    events : list of dict, optional
        The events of the mask.
    created : str, optional
        When the mask was first saved (default: now).
    image_voxel_sha256 : str, optional
        The voxel hash of the image it was painted on.
    extra : dict, optional
        More fields, written as given.
    methods : dict of int to dict, optional
        Label -> how it was made (``Labels[k].Method``; absent means manual).
    """

    source: SourceIdentity | dict | None = None
    label_table: LabelTable | None = None
    edits: SliceEdits = field(default_factory=SliceEdits)
    annotator: str | None = None
    events: list[dict] | None = None
    created: str | None = None
    image_voxel_sha256: str | None = None
    extra: dict | None = None
    methods: dict[int, dict] | None = None


_FIELD_NAMES = frozenset(f.name for f in fields(MaskFields))


def mask_fields(base: MaskFields | None = None, **more) -> MaskFields:
    """``base`` (default: empty) with ``more`` of its fields replaced.

    ``painted``, ``interpolated`` and ``axis`` (label -> slice indices, as a script or a test
    writes them) are a shorthand for ``edits``: they become one :class:`SliceEdits` here.
    """
    shorthand = {k: more.pop(k) for k in ("painted", "interpolated", "axis") if k in more}
    unknown = sorted(set(more) - _FIELD_NAMES)
    if unknown:
        raise TypeError(f"unknown mask field(s): {', '.join(unknown)}")
    f = replace(base, **more) if base is not None else MaskFields(**more)
    if shorthand:
        f = replace(f, edits=SliceEdits(shorthand.get("painted"), {}, shorthand.get("interpolated"),
                                        int(shorthand.get("axis") or 0)))
    return f


def mask_provenance(labels: np.ndarray, grid: Grid, fields: MaskFields | None = None) -> MaskProvenance:
    """Build the provenance record of a mask (see docs/provenance.md).

    Parameters
    ----------
    labels : numpy.ndarray
        The mask's labels.
    grid : Grid
        The grid they lie on.
    fields : MaskFields, optional
        What the record says beside the voxels (default: nothing).

    Returns
    -------
    MaskProvenance
        The record; its ``to_dict`` is what the sidecar holds.
    """
    f = fields if fields is not None else MaskFields()
    present = labels_present(labels)
    t = now_utc()
    more = dict(f.extra or {})
    version = more.pop("Version", None)
    extra = {
        "SchemaVersion": SCHEMA_VERSION,
        "Kind": "mask",
        "Software": software(),
        "Created": f.created or t,
        "Modified": t,
        "Description": "Label mask on the exact grid of its CT image",
        "Sources": ["bids::ct.nii.gz"],
        "SpatialReference": "orig",
        "Geometry": geometry_record(labels.shape, grid.affine),
        "Source": f.source.to_dict() if isinstance(f.source, SourceIdentity) else f.source,
        "Labels": labels_record(f.label_table, present, f.edits, f.methods),
    }
    if f.image_voxel_sha256:
        extra["ImageVoxelSHA256"] = f.image_voxel_sha256
    extra.update(more)
    events = tuple(Event.from_dict(e) for e in f.events or ())
    return MaskProvenance(voxel_hash(labels, grid.affine), f.edits, f.annotator, version, events, extra,
                          (*MASK_KEYS, *(f.extra or {})))


def save_mask(
    path: str | os.PathLike,
    labels: np.ndarray,
    grid: Grid | Volume,
    fields: MaskFields | None = None,
    **provenance,
) -> MaskProvenance:
    """Write a label mask on ``grid`` with its provenance sidecar, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination ``*_dseg.nii.gz``; the sidecar is written beside it.
    labels : numpy.ndarray
        Integer labels in (slice, row, column) order, the shape of ``grid``.
    grid : Grid or Volume
        The geometry the mask was painted on. A shape mismatch is an error.
    fields : MaskFields, optional
        What the provenance records beside the voxels.
    **provenance
        Fields of :class:`MaskFields` to set or replace (:func:`mask_fields`; ``painted``,
        ``interpolated``, ``axis`` are a shorthand for ``edits``).

    Returns
    -------
    MaskProvenance
        The provenance written (the sidecar holds its ``to_dict``).

    Raises
    ------
    GeometryError
        ``labels`` does not have the grid's shape.
    InputError
        Label values outside 0..65535.
    """
    f = mask_fields(fields, **provenance)
    if isinstance(grid, Volume):
        if f.source is None:
            f = replace(f, source=grid.source)
        grid = grid.grid
    labels = np.asarray(labels)
    grid.require_match(Grid(tuple(labels.shape), grid.affine), "the mask", path)
    arr = labels.astype(mask_dtype(labels), copy=False)
    prov = mask_provenance(arr, grid, f)
    record = prov.to_dict()
    validate(record, path)
    # The NIfTI first, then the sidecar: a crash between them leaves a sidecar
    # whose hash does not match, which load_mask and verify report.
    write_nifti(path, arr, grid.affine, intent_label=True, extension=record, descrip="ctlabel dseg")
    write_json(sidecar_path(path), record)
    return prov


def _settle_torn_pair(path, side: Path, arr: np.ndarray, affine: np.ndarray, record: MaskProvenance | None,
                      embedded: dict | None) -> MaskProvenance | None:
    """The sidecar of a save interrupted between its two renames, restored from the mask itself.

    A save writes the NIfTI (which carries a copy of its provenance in its header extension)
    and then the sidecar. Killed in between, the new NIfTI sits beside the old sidecar (or
    none, on a first save). When
    the embedded copy vouches for the voxels, the sidecar is rewritten from it (atomically),
    so mask and sidecar agree again; anything else is left for ``verify`` to report.
    """
    if not embedded or (record is not None and embedded == record.to_dict()):
        return record
    try:
        validate(embedded, path)
        copy = MaskProvenance.from_dict(embedded)
    except (CtlabelError, ValueError, KeyError, TypeError):
        return record
    if copy.voxel_sha256 != voxel_hash(arr, affine):
        return record
    try:
        write_json(side, copy.to_dict())
    except CtlabelError:
        return record
    return copy


def load_mask(path: str | os.PathLike, image: Grid | Volume | None = None, *, require_sidecar: bool = False,
              repair_torn: bool = False) -> Mask:
    """Read a mask and its sidecar; check it against ``image``'s grid.

    Parameters
    ----------
    path : str or PathLike
        A ``.nii``/``.nii.gz`` label image.
    image : Grid or Volume, optional
        The image the mask belongs to. A different shape or affine raises
        :class:`GeometryError`; nothing is ever resampled.
    require_sidecar : bool
        Raise :class:`ProvenanceError` when there is no valid sidecar.
    repair_torn : bool
        For a working mask (the draft) only: when a save was killed between writing the
        NIfTI and its sidecar, restore the sidecar from the provenance copy in the NIfTI
        header. Frozen versions are never rewritten; verify reports them instead.
    """
    data = read_nifti(path)
    arr = data.array
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.array_equal(arr, np.round(arr)):
            raise InputError("a mask must hold whole-number labels", path)
        arr = arr.astype(mask_dtype(arr))
    side = sidecar_path(path)
    record = read_mask_sidecar(side) if Path(side).exists() else None
    if repair_torn:
        record = _settle_torn_pair(path, side, arr, data.affine, record, data.extension_json)
    if record is None and require_sidecar:
        raise ProvenanceError("the provenance sidecar is missing", side)
    mask = Mask(arr, data.affine, record, Path(path))
    if image is not None:
        g = image.grid if isinstance(image, Volume) else image
        g.require_match(mask.grid, "the mask", path)
    return mask


__all__ = ["INTENT_LABEL", "Mask", "MaskFields", "labels_present", "load_mask", "mask_dtype", "mask_fields",
           "mask_provenance", "save_mask"]
