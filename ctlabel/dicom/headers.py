"""Header values of one DICOM file, read defensively: every value is checked before use.

A value of the wrong type or VR, a number that is not finite, a count that does not fit
the bytes the file holds, or geometry that cannot be a slice raises :class:`BadValue`
naming the attribute; the scan turns it into a failed file with that reason, and the
batch goes on. Orientation tolerances are in ``docs/conventions.md``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import numpy as np

from ctlabel.geometry import check_orientation

_NATIVE_LE = {"1.2.840.10008.1.2": False, "1.2.840.10008.1.2.1": True}
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR"}
#: Bytes an encapsulated frame needs at least (its item header).
_MIN_ENCAPSULATED_FRAME = 8
#: The physical range of a pixel spacing, slice thickness or slice gap (mm), in
#: ``docs/conventions.md``: outside it a value is refused (1e-300 mm pixels give no usable affine).
MIN_SPACING_MM = 1e-3
MAX_SPACING_MM = 1e3
#: Largest plausible magnitudes (mm, or HU per stored unit): beyond them a value is refused.
MAX_POSITION_MM = 1e7
MAX_RESCALE = 1e6


class BadValue(ValueError):
    """A header value that cannot be what the standard says it is."""


class PixelSizeMismatch(BadValue):
    """The pixel data length disagrees with Rows, Columns, frames and BitsAllocated."""


@dataclass(frozen=True)
class RawPixels:
    """Where uncompressed little-endian pixel data lies in a file, for a direct read.

    ``offset`` is the first pixel byte; ``dtype`` the stored value type;
    ``frame_bytes`` the size of one frame.
    """

    offset: int
    dtype: str
    frame_bytes: int


@dataclass(frozen=True)
class SliceHeader:
    """Header values of one slice (one frame of one file) needed to build a volume.

    ``notes`` are warnings about this slice's own values (e.g. an orientation that was
    orthonormalised within tolerance).
    """

    path: str
    frame: int
    sop_instance_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slope: float
    intercept: float
    instance_number: int | None
    slice_thickness: float | None
    raw: RawPixels | None = None
    notes: tuple[str, ...] = ()


def get(ds, key: str, default=None):
    """``ds.get(key)``, with any failure to convert the raw value reported as :class:`BadValue`."""
    try:
        value = ds.get(key, default)
    except Exception as exc:  # noqa: BLE001 - pydicom converts raw bytes lazily and raises many kinds
        raise BadValue(f"{key} cannot be read ({type(exc).__name__}: {exc})") from None
    return default if value is None else value


def text(ds, key: str) -> str:
    """A string value ('' when absent); several values are joined with backslashes."""
    value = get(ds, key, "")
    if isinstance(value, bytes):
        raise BadValue(f"{key} holds bytes, not text")
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        return "\\".join(str(v) for v in value)
    return str(value)


def _one(value, key: str):
    if isinstance(value, (bytes, bytearray)):
        raise BadValue(f"{key} holds raw bytes, not a number")
    if not isinstance(value, str) and hasattr(value, "__len__"):
        if len(value) != 1:
            raise BadValue(f"{key} holds {len(value)} values, not one")
        value = value[0]
    return value


def number(ds, key: str) -> float | None:
    """A finite number, or None when absent or empty."""
    value = _one(get(ds, key), key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BadValue(f"{key} is {value!r}, not a number") from None
    if not math.isfinite(out):
        raise BadValue(f"{key} is {value!r}, not a finite number")
    return out


def whole(ds, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """A whole number within bounds, or None when absent or empty."""
    value = number(ds, key)
    if value is None:
        return None
    if not value.is_integer():
        raise BadValue(f"{key} is {value!r}, not a whole number")
    out = int(value)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise BadValue(f"{key} is {out}, outside {minimum}..{maximum}")
    return out


def numbers(value, key: str, n: int) -> tuple[float, ...] | None:
    """``n`` finite numbers from a multi-valued attribute, or None when absent or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bytes, bytearray)):
        raise BadValue(f"{key} holds raw bytes, not numbers")
    items: list = [value] if isinstance(value, (str, int, float)) else list(value)
    if len(items) == 1 and isinstance(items[0], str) and "\\" in items[0]:
        items = items[0].split("\\")
    if len(items) != n:
        raise BadValue(f"{key} holds {len(items)} values, not {n}")
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise BadValue(f"{key} is {value!r}, not {n} numbers") from None
    if not all(math.isfinite(v) for v in out):
        raise BadValue(f"{key} holds a value that is not finite ({value!r})")
    return out


@dataclass(frozen=True)
class Counts:
    """Matrix and frame counts, checked against each other and the file size."""

    rows: int
    columns: int
    frames: int
    bits: int


def counts(ds, path: str | os.PathLike, *, pixel_bytes: int | None = None) -> Counts:
    """Rows, Columns, NumberOfFrames and BitsAllocated, bounded by what the file can hold.

    Parameters
    ----------
    ds : dataset-like
        pydicom Dataset or the fast reader's header.
    path : path
        The file (its size bounds the frame count).
    pixel_bytes : int, optional
        Length of the native pixel data element when known.
    """
    rows = whole(ds, "Rows", minimum=0, maximum=65535) or 0
    cols = whole(ds, "Columns", minimum=0, maximum=65535) or 0
    frames = whole(ds, "NumberOfFrames", minimum=1) or 1
    bits = whole(ds, "BitsAllocated", minimum=0, maximum=64) or 0
    size = os.path.getsize(path)
    native = str(ds.file_meta.get("TransferSyntaxUID", "")) in _NATIVE_LE
    if native and rows and cols and bits:
        need = (rows * cols * frames * bits + 7) // 8
        if need > size:
            raise BadValue(f"Rows x Columns x NumberOfFrames ({rows} x {cols} x {frames}) at {bits} bits needs"
                           f" {need} bytes but the file holds {size}")
    elif frames * _MIN_ENCAPSULATED_FRAME > size:
        raise BadValue(f"NumberOfFrames is {frames} but the file holds only {size} bytes")
    return Counts(rows, cols, frames, bits)


def raw_layout(ds, c: Counts, length: int, data_offset: int) -> RawPixels | None:
    """Check the native pixel data element against the header; None when pydicom must decode it.

    Returns None for compressed, big-endian, colour, signed sub-word or other unusual
    pixel data; raises :class:`PixelSizeMismatch` when the length disagrees with Rows,
    Columns, frames and BitsAllocated.
    """
    if str(ds.file_meta.get("TransferSyntaxUID", "")) not in _NATIVE_LE or length == 0xFFFFFFFF:
        return None
    bits = c.bits
    stored = whole(ds, "BitsStored", minimum=0, maximum=64) or bits
    signed = whole(ds, "PixelRepresentation", minimum=0, maximum=1) == 1
    if bits not in (8, 16, 32) or (whole(ds, "SamplesPerPixel") or 1) != 1 or (signed and stored != bits):
        return None
    frame_bytes = c.rows * c.columns * bits // 8
    if length not in (frame_bytes * c.frames, frame_bytes * c.frames + 1):
        raise PixelSizeMismatch(
            f"pixel data holds {length} bytes but Rows x Columns x frames ({c.rows} x {c.columns} x {c.frames})"
            f" at {bits} bits needs {frame_bytes * c.frames}"
        )
    kind = ("i" if signed else "u") + str(bits // 8)
    return RawPixels(data_offset, ("<" if bits > 8 else "|") + kind, frame_bytes)


def raw_pixels_after(ds, fp, c: Counts) -> RawPixels | None:
    """Locate native pixel data right after a pydicom header read that stopped before it."""
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax not in _NATIVE_LE:
        return None
    start = fp.tell()
    head = fp.read(12)
    if len(head) < 8 or head[:4] != b"\xe0\x7f\x10\x00":
        return None
    if _NATIVE_LE[syntax] and head[4:6] in _LONG_VRS:
        return raw_layout(ds, c, int.from_bytes(head[8:12], "little"), start + 12)
    if _NATIVE_LE[syntax]:
        return raw_layout(ds, c, int.from_bytes(head[6:8], "little"), start + 8)
    return raw_layout(ds, c, int.from_bytes(head[4:8], "little"), start + 8)


def _first(ds, *path):
    """Follow a chain of (sequence keyword) ... (keyword) through functional groups."""
    cur = ds
    for key in path:
        if cur is None:
            return None
        val = get(cur, key)
        if val is not None and type(val).__name__ == "Sequence":
            cur = val[0] if len(val) else None
        else:
            cur = val
    return cur


class _Values:
    """A mapping view of found values, so the checks above read them like a data set."""

    def __init__(self, values: dict):
        self._v = values

    def get(self, key, default=None):
        return self._v.get(key, default)


@lru_cache(maxsize=256)
def _checked_orientation(values: tuple[float, ...]) -> tuple[tuple[float, ...], str | None]:
    """:func:`~ctlabel.geometry.check_orientation`, once per orientation: a series' slices share theirs."""
    return check_orientation(values)


def _slice(path: str, frame: int, sop: str, inst: int | None, values: dict, raw) -> SliceHeader:
    v = _Values(values)
    notes: list[str] = []
    orientation = numbers(values.get("ImageOrientationPatient"), "ImageOrientationPatient", 6)
    if orientation is not None:
        try:
            orientation, note = _checked_orientation(orientation)
        except ValueError as exc:
            raise BadValue(str(exc)) from None
        if note:
            notes.append(note)
    spacing = numbers(values.get("PixelSpacing"), "PixelSpacing", 2)
    if spacing is not None and not all(MIN_SPACING_MM <= s <= MAX_SPACING_MM for s in spacing):
        raise BadValue(f"PixelSpacing must lie in {MIN_SPACING_MM:g}..{MAX_SPACING_MM:g} mm, not {list(spacing)}")
    position = numbers(values.get("ImagePositionPatient"), "ImagePositionPatient", 3)
    if position is not None and max(abs(p) for p in position) > MAX_POSITION_MM:
        raise BadValue(f"ImagePositionPatient {list(position)} lies beyond {MAX_POSITION_MM:g} mm")
    slope = number(v, "RescaleSlope")
    intercept = number(v, "RescaleIntercept") or 0.0
    if slope == 0:
        raise BadValue("RescaleSlope is 0: every pixel would have one value")
    if slope is not None and slope < 0:
        notes.append(f"negative_rescale_slope: RescaleSlope is {slope:g}: a higher stored value is a lower HU;"
                     " check the image")
    if abs(slope or 1.0) > MAX_RESCALE or abs(intercept) > MAX_RESCALE * 1e3:
        raise BadValue(f"RescaleSlope {slope} or RescaleIntercept {intercept} is beyond any CT")
    thick = number(v, "SliceThickness")
    if thick is not None and thick > 0 and not MIN_SPACING_MM <= thick <= MAX_SPACING_MM:
        raise BadValue(f"SliceThickness must lie in {MIN_SPACING_MM:g}..{MAX_SPACING_MM:g} mm, not {thick!r}")
    return SliceHeader(
        path, frame, sop, cast("tuple[float, float, float] | None", position), orientation,
        cast("tuple[float, float] | None", spacing),
        1.0 if slope is None else slope,
        intercept,
        inst,
        thick if thick is not None and thick > 0 else None,
        raw,
        tuple(notes),
    )


def slice_headers(ds, path: str, frames: int, raw: RawPixels | None = None) -> list[SliceHeader]:
    """One :class:`SliceHeader` per frame of a file (functional groups for enhanced objects)."""
    sop = text(ds, "SOPInstanceUID")
    try:
        inst = whole(ds, "InstanceNumber")
    except BadValue:
        inst = None  # never used for geometry or order
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        shared = _first(ds, "SharedFunctionalGroupsSequence")
        per = get(ds, "PerFrameFunctionalGroupsSequence") or []
        out = []
        for f in range(frames):
            groups = ([per[f]] if f < len(per) else []) + ([shared] if shared is not None else [])

            def pick(*keys, groups=groups):
                for g in groups:
                    found = _first(g, *keys)
                    if found is not None:
                        return found
                return None

            values = {
                "ImagePositionPatient": pick("PlanePositionSequence", "ImagePositionPatient"),
                "ImageOrientationPatient": pick("PlaneOrientationSequence", "ImageOrientationPatient"),
                "PixelSpacing": pick("PixelMeasuresSequence", "PixelSpacing"),
                "RescaleSlope": pick("PixelValueTransformationSequence", "RescaleSlope"),
                "RescaleIntercept": pick("PixelValueTransformationSequence", "RescaleIntercept"),
                "SliceThickness": pick("PixelMeasuresSequence", "SliceThickness") or get(ds, "SliceThickness"),
            }
            out.append(_slice(path, f + 1, sop, inst, values, raw))
        return out
    values = {k: get(ds, k) for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                                      "RescaleSlope", "RescaleIntercept", "SliceThickness")}
    one = _slice(path, 1, sop, inst, values, raw)
    if frames == 1:
        return [one]
    from dataclasses import replace

    return [replace(one, frame=f + 1) for f in range(frames)]


def references(ds) -> list[str]:
    """Series UIDs that a non-image object says it refers to."""
    refs: list[str] = []
    for item in get(ds, "ReferencedSeriesSequence", []) or []:
        if "SeriesInstanceUID" in item:
            refs.append(str(item.SeriesInstanceUID))
    for frame_ref in get(ds, "ReferencedFrameOfReferenceSequence", []) or []:
        for study in frame_ref.get("RTReferencedStudySequence", []) or []:
            for series in study.get("RTReferencedSeriesSequence", []) or []:
                if "SeriesInstanceUID" in series:
                    refs.append(str(series.SeriesInstanceUID))
    for ev in get(ds, "CurrentRequestedProcedureEvidenceSequence", []) or []:
        for series in ev.get("ReferencedSeriesSequence", []) or []:
            if "SeriesInstanceUID" in series:
                refs.append(str(series.SeriesInstanceUID))
    return list(dict.fromkeys(refs))


def orientation_key(orientation) -> bytes:
    """Orientation rounded for grouping slices into stacks."""
    return np.round(np.asarray(orientation, dtype=float), 3).tobytes()


__all__ = ["MAX_SPACING_MM", "MIN_SPACING_MM", "BadValue", "Counts", "PixelSizeMismatch", "RawPixels", "SliceHeader",
           "counts", "number", "numbers", "raw_layout", "raw_pixels_after", "references", "slice_headers", "text",
           "whole"]
