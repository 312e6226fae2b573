"""The :class:`Volume`: a CT voxel array with its geometry and source identity.

Axis convention (see ``docs/conventions.md``): in memory the array is indexed
``(slice, row, column)``; slice 0 has the lowest position along the slice
normal. ``affine`` maps the *on-disk* NIfTI voxel index ``(i, j, k) = (column,
row, slice)`` to RAS millimetres, so the on-disk array is ``array.T``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

from ctlabel.errors import GeometryError, InputError
from ctlabel.model import WarningCode, as_warnings

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

#: Tolerance (mm) under which two affines are the same grid.
AFFINE_TOLERANCE_MM = 1e-4


@dataclass(frozen=True)
class SliceIdentity:
    """Where one slice of a volume came from.

    Attributes
    ----------
    sop_instance_uid : str
        SOPInstanceUID of the DICOM instance.
    frame : int
        1-based frame number within a multi-frame instance (1 for single frame).
    position : tuple of float
        ImagePositionPatient (LPS, mm) of the slice's first pixel.
    pixel_sha256 : str
        SHA-256 of the slice's stored pixel values (see :func:`pixel_hash`).
    """

    sop_instance_uid: str
    frame: int
    position: tuple[float, float, float]
    pixel_sha256: str

    def to_dict(self) -> dict:
        return {
            "SOPInstanceUID": self.sop_instance_uid,
            "Frame": self.frame,
            "ImagePositionPatient": [round(float(v), 6) for v in self.position],
            "PixelSHA256": self.pixel_sha256,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SliceIdentity:
        return cls(
            d["SOPInstanceUID"],
            int(d.get("Frame", 1)),
            cast("tuple[float, float, float]", tuple(float(v) for v in d["ImagePositionPatient"])),
            d["PixelSHA256"],
        )


@dataclass(frozen=True)
class SourceIdentity:
    """The DICOM identity of a volume: UIDs and per-slice pixel hashes, in slice order."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    slices: tuple[SliceIdentity | None, ...]
    series_description: str = ""
    series_number: int | None = None
    modality: str = "CT"

    @property
    def series_hash(self) -> str:
        """SHA-256 over the slice pixel hashes, in slice order (``padded`` for a padded slice)."""
        return series_hash([s.pixel_sha256 if s is not None else "padded" for s in self.slices])

    def to_dict(self) -> dict:
        return {
            "StudyInstanceUID": self.study_uid,
            "SeriesInstanceUID": self.series_uid,
            "FrameOfReferenceUID": self.frame_of_reference_uid,
            "SeriesDescription": self.series_description,
            "SeriesNumber": self.series_number,
            "Modality": self.modality,
            "SeriesPixelSHA256": self.series_hash,
            "Slices": [s.to_dict() if s is not None else None for s in self.slices],
        }

    @classmethod
    def from_dict(cls, d: dict) -> SourceIdentity:
        return cls(
            study_uid=d.get("StudyInstanceUID", ""),
            series_uid=d.get("SeriesInstanceUID", ""),
            frame_of_reference_uid=d.get("FrameOfReferenceUID", ""),
            slices=tuple(SliceIdentity.from_dict(s) if s is not None else None for s in d.get("Slices", [])),
            series_description=d.get("SeriesDescription", ""),
            series_number=d.get("SeriesNumber"),
            modality=d.get("Modality", "CT"),
        )


def pixel_hash(stored: np.ndarray) -> str:
    """SHA-256 of stored pixel values: dtype string, then little-endian C-order bytes.

    It survives de-identification and transfer-syntax changes, because it
    reads the decoded stored values, not the file bytes.
    """
    arr = np.ascontiguousarray(stored)
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    h = hashlib.sha256(le.dtype.str.encode())
    h.update(le.data.cast("B"))
    return h.hexdigest()


def series_hash(slice_hashes: list[str]) -> str:
    """SHA-256 over slice hashes in slice order."""
    return hashlib.sha256("\n".join(slice_hashes).encode()).hexdigest()


def voxel_hash(array: np.ndarray, affine: np.ndarray) -> str:
    """Identity of a voxel array: SHA-256 of dtype, shape, affine and bytes.

    ``array`` is in memory order (slice, row, column); the hash does not depend
    on the file it came from, so header rewrites do not change it.
    """
    arr = np.ascontiguousarray(array)
    h = voxel_hash_start(arr.dtype, arr.shape, affine)
    h.update(little_endian_bytes(arr))
    return h.hexdigest()


def voxel_hash_start(dtype: DTypeLike, shape: tuple[int, ...], affine: np.ndarray):
    """The SHA-256 of :func:`voxel_hash` fed with everything before the voxel bytes (dtype, shape, affine)."""
    h = hashlib.sha256()
    h.update(np.dtype(dtype).newbyteorder("<").str.encode())
    h.update(repr(tuple(int(s) for s in shape)).encode())
    h.update(voxel_hash_affine(affine))
    return h


def voxel_hash_affine(affine: np.ndarray) -> bytes:
    """The affine's bytes as :func:`voxel_hash` reads them (rounded to 1e-4 mm, little-endian float64)."""
    return np.round(np.asarray(affine, dtype=np.float64), 4).astype("<f8").tobytes()


def little_endian_bytes(arr: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array in little-endian order (no copy on a little-endian machine)."""
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).data.cast("B")


@dataclass(frozen=True)
class Grid:
    """A voxel grid: in-memory shape (slice, row, column) and on-disk affine."""

    shape: tuple[int, ...]  # three sizes; a grid built from labels to be checked may have others
    affine: np.ndarray

    def require_match(self, other: Grid, what: str, path=None) -> None:
        """Raise :class:`GeometryError` unless ``other`` is this grid."""
        if tuple(self.shape) != tuple(other.shape):
            raise GeometryError(
                f"{what} has shape {tuple(other.shape)} but the image grid is {tuple(self.shape)};"
                " ctlabel never resamples a mask",
                path,
            )
        if not np.allclose(self.affine, other.affine, atol=AFFINE_TOLERANCE_MM):
            diff = float(np.max(np.abs(np.asarray(self.affine) - np.asarray(other.affine))))
            raise GeometryError(
                f"{what} affine differs from the image affine by up to {diff:.4g} mm;"
                " ctlabel never resamples a mask",
                path,
            )


@dataclass
class Volume:
    """A CT volume: voxels, geometry and where they came from.

    Parameters
    ----------
    array : numpy.ndarray
        3-D array indexed (slice, row, column), in HU (int16 when exact, else float32).
    affine : numpy.ndarray
        4x4 map from on-disk voxel index (column, row, slice) to RAS millimetres.
    source : SourceIdentity, optional
        The DICOM identity; None for volumes that did not come from DICOM.
    warnings : list of str
        Irregularities found while reading (``code: detail``), e.g. ``gantry_tilt: ...``.
    slice_positions_mm : numpy.ndarray, optional
        Position of each slice along the slice normal (mm), for irregular series.
    missing_slices : tuple of int
        Slices padded where the acquisition skipped a position of a uniform grid
        (their ``source.slices`` entry is None).
    """

    array: np.ndarray
    affine: np.ndarray
    source: SourceIdentity | None = None
    warnings: list[str] = field(default_factory=list)
    slice_positions_mm: np.ndarray | None = None
    missing_slices: tuple[int, ...] = ()
    #: (array, affine, digest) when :meth:`keep_voxel_hash` recorded the hash computed while reading.
    _digest: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.array.ndim != 3:
            raise InputError(f"a Volume needs a 3-D array, got shape {self.array.shape}")
        if self.affine.shape != (4, 4):
            raise InputError(f"a Volume needs a 4x4 affine, got shape {self.affine.shape}")
        if self.source is not None and len(self.source.slices) not in (0, self.array.shape[0]):
            raise InputError(
                f"source lists {len(self.source.slices)} slices but the array has {self.array.shape[0]}"
            )

    def keep_voxel_hash(self, digest: str) -> None:
        """Remember ``digest`` as :func:`voxel_hash` of ``array`` and ``affine``, which become read-only.

        :func:`~ctlabel.dicom.read.load_series` computes the hash while it reads (``digest=True``),
        so saving the volume needs no second pass over its bytes. The hash cannot go stale:
        both arrays are made read-only, and :meth:`voxel_hash` uses it only while they are
        the same objects, still read-only.
        """
        self.array.flags.writeable = False
        self.affine.flags.writeable = False
        self._digest = (self.array, self.affine, digest)

    def voxel_hash(self) -> str:
        """:func:`voxel_hash` of ``array`` and ``affine`` (the one kept while reading when it is still valid)."""
        kept = self._digest
        if (kept is not None and kept[0] is self.array and kept[1] is self.affine
                and not self.array.flags.writeable and not self.affine.flags.writeable):
            return kept[2]
        return voxel_hash(self.array, self.affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        return cast("tuple[int, int, int]", tuple(int(s) for s in self.array.shape))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel spacing in mm in array order (slice, row, column)."""
        return spacing_from_affine(self.affine)

    @property
    def grid(self) -> Grid:
        return Grid(self.shape, self.affine)

    @property
    def warning_codes(self) -> list[str]:
        return [str(w.code) if w.code is not WarningCode.OTHER else w.detail.split(":", 1)[0]
                for w in as_warnings(self.warnings)]


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Spacing (slice, row, column) in mm.

    Row and column spacing are the lengths of the affine's j and i columns. The
    slice spacing is the distance between slice planes: the k column projected
    on the slice normal, which differs from its length when the grid is sheared
    (gantry tilt).

    Examples
    --------
    >>> import numpy as np
    >>> spacing_from_affine(np.diag([0.5, 0.7, 2.0, 1.0]))  # columns i, j, k: 0.5, 0.7, 2 mm
    (2.0, 0.7, 0.5)
    """
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    normal = np.cross(m[:, 0], m[:, 1])
    normal /= np.linalg.norm(normal)
    return (
        float(abs(m[:, 2] @ normal)),
        float(np.linalg.norm(m[:, 1])),
        float(np.linalg.norm(m[:, 0])),
    )
