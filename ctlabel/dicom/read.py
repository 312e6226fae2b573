"""Build a :class:`~ctlabel.volume.Volume` from a stack found by :func:`find_series`.

Pixel data is decoded by pydicom (with pylibjpeg plugins for JPEG, JPEG-LS,
JPEG 2000 and RLE). Geometry comes from ImagePositionPatient and
ImageOrientationPatient only, never from file names or InstanceNumber.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from ctlabel.dicom.frames import read_frame_into, read_frames
from ctlabel.dicom.headers import MAX_SPACING_MM, MIN_SPACING_MM
from ctlabel.dicom.scan import find_series
from ctlabel.dicom.stacks import Stack
from ctlabel.errors import InputError, SeriesError
from ctlabel.geometry import SPACING_TOLERANCE_FRACTION, SPACING_TOLERANCE_MM, analyze_stack, dicom_affine
from ctlabel.model import IMAGE_KINDS, WarningCode, warning_codes, without_code
from ctlabel.volume import SliceIdentity, SourceIdentity, Volume, pixel_hash

if TYPE_CHECKING:
    from ctlabel.dicom.digest import SliceOrderHasher

#: Threads that read, hash and convert slices in :func:`load_series`. Batch
#: conversion sets 1: there, ``--jobs`` worker processes share the cores.
LOAD_THREADS = min(4, os.cpu_count() or 1)

#: What to do with a series whose slices no single affine can place exactly. ``split``
#: is carried out by :func:`ctlabel.dicom.stack_runs.split_uniform_runs` before loading; a
#: stack that still needs it is kept as with ``keep``.
IRREGULAR_POLICIES = ("keep", "error", "split")

#: HU written into the slices padded where a uniform grid misses acquired slices.
PAD_HU = -1024
#: A series is padded only up to this many slices in all (else it stays non-uniform).
MAX_PADDED_SLICES = 4096

_INT16 = np.iinfo(np.int16)


def _to_hu(stored: np.ndarray, h, out: np.ndarray, i: int) -> bool:
    """Write ``stored * slope + intercept`` into ``out[i]``; False if int16 cannot hold it."""
    if out.dtype != np.int16:
        np.multiply(stored, np.float32(h.slope), out=out[i], casting="unsafe")
        out[i] += np.float32(h.intercept)
        return True
    lo, hi = int(stored.min()), int(stored.max())
    slope, icpt = int(h.slope), int(h.intercept)
    ends = (lo * slope + icpt, hi * slope + icpt)
    if min(ends) < _INT16.min or max(ends) > _INT16.max:
        return False
    if slope == 1 and stored.dtype.itemsize == 2 and stored.dtype.isnative:
        # int16 arithmetic wraps modulo 2**16: exact here, because the result fits int16 (checked above)
        np.add(stored.view(np.int16), np.int16((icpt + 32768) % 65536 - 32768), out=out[i])
    elif slope == 1 and stored.dtype.itemsize <= 2:
        np.add(stored, np.int32(icpt), out=out[i], dtype=np.int32, casting="unsafe")
    else:
        out[i] = stored.astype(np.int32) * slope + icpt
    return True


def _integral(values) -> bool:
    return all(float(v).is_integer() for v in values)


def load_series(
    stack: Stack | str | os.PathLike,
    *,
    irregular: str = "keep",
    progress: Callable[[int, int], None] | None = None,
    digest: bool = False,
) -> Volume:
    """Read the pixels of an image stack into a :class:`Volume` in HU.

    Parameters
    ----------
    stack : Stack or path
        A stack from :func:`find_series`, or a path holding exactly one image stack.
    irregular : {"keep", "error", "split"}
        Policy for non-uniform spacing, missing slices and gantry tilt. ``"keep"``
        keeps every acquired slice unresampled and records the irregularity in
        ``Volume.warnings`` (see docs/conventions.md); slices missing from a uniform
        grid are padded with :data:`PAD_HU` and listed in ``Volume.missing_slices``.
        ``"error"`` raises :class:`SeriesError`. ``"split"`` is done on stacks before
        loading (:func:`ctlabel.dicom.stack_runs.split_uniform_runs`) and loads like ``"keep"``.
    progress : callable(done, total), optional
        Told how many of the ``total`` slices are read so far, as they are (called from the
        reading threads: a viewer stores the numbers and shows them from its own thread).
    digest : bool
        Also compute the volume's :func:`~ctlabel.volume.voxel_hash` while reading
        (:class:`~ctlabel.dicom.digest.SliceOrderHasher`) and keep it with the volume
        (:meth:`Volume.keep_voxel_hash`: its array and affine become read-only). For a volume
        that is saved at once, as ``convert`` does: no second pass over its bytes.

    Returns
    -------
    Volume
        ``array`` is int16 when the rescale gives whole HU that fit, float32 otherwise.

    Raises
    ------
    DicomReadError
        A file cannot be read or decoded.
    SeriesError
        The slices are inconsistent (sizes, pixel spacing, conflicting duplicates).
    """
    if irregular not in IRREGULAR_POLICIES:
        raise InputError(f"irregular must be one of {IRREGULAR_POLICIES}, not {irregular!r}")
    stack = _image_stack(stack)
    headers = stack.slices
    first = headers[0]
    assert first.orientation is not None and first.pixel_spacing is not None  # an image, its spacing checked
    where = os.path.dirname(first.path) or first.path

    geo = analyze_stack(np.array([h.position for h in headers]), first.orientation, first.slice_thickness)
    if geo.order.tolist() != list(range(len(headers))):
        headers = [headers[i] for i in geo.order]
    hasher = _hasher(first, headers[0], geo) if digest else None
    out, hashes = _read_pixels(stack, headers, progress, hasher)
    out, headers, hashes, geo, warnings = _drop_duplicates(out, headers, hashes, geo, first, where)

    negative = [os.path.basename(h.path) for h in headers if h.slope < 0]
    if negative:
        warnings.append(f"negative_rescale_slope: RescaleSlope is negative in {len(negative)} slice(s)"
                        f" ({', '.join(negative[:3])}{', ...' if len(negative) > 3 else ''}): a higher stored value"
                        " is a lower HU; check the image")

    irregular_codes = {"non_uniform_spacing", "missing_slices", "gantry_tilt"}
    if irregular == "error":
        bad = [w for w in warnings if w.split(":", 1)[0] in irregular_codes]
        if bad:
            raise SeriesError("irregular geometry: " + "; ".join(bad), where)

    if not MIN_SPACING_MM <= geo.spacing_mm <= MAX_SPACING_MM:
        raise SeriesError(f"the slices lie {geo.spacing_mm:.4g} mm apart, outside the physical range"
                          f" {MIN_SPACING_MM:g}..{MAX_SPACING_MM:g} mm", where)
    affine = dicom_affine(first.orientation, headers[0].position, first.pixel_spacing, geo.step_lps)
    if not np.isfinite(affine).all() or not 0 < geo.spacing_mm < float("inf"):
        raise SeriesError("the slice geometry gives no finite affine (degenerate positions or spacing)", where)
    identities: list[SliceIdentity | None] = [
        SliceIdentity(h.sop_instance_uid, h.frame, h.position, hh) for h, hh in zip(headers, hashes)
    ]
    positions = geo.positions_mm
    missing: tuple[int, ...] = ()
    if "missing_slices" in {w.split(":", 1)[0] for w in warnings}:
        padded = _pad_missing(out, identities, geo.positions_mm, geo.spacing_mm)
        if padded is not None:
            out, identities, missing = padded
            positions = geo.positions_mm[0] + geo.spacing_mm * np.arange(out.shape[0])
            warnings = without_code(warnings, WarningCode.MISSING_SLICES)
            warnings.append(f"missing_slices: {len(missing)} slice(s) missing from a {geo.spacing_mm:.4g} mm grid,"
                            f" padded with {PAD_HU} HU at k={_ranges(missing)}; every acquired slice is exact")
    source = SourceIdentity(
        study_uid=stack.study_uid,
        series_uid=stack.series_uid,
        frame_of_reference_uid=stack.frame_of_reference_uid,
        slices=tuple(identities),
        series_description=stack.description,
        series_number=stack.series_number,
        modality=stack.modality,
    )
    volume = Volume(out, affine, source, warnings, positions, missing)
    known = hasher.result(volume.array, volume.affine) if hasher is not None else None
    if known is not None:
        volume.keep_voxel_hash(known)
    return volume


def _hasher(first, lowest, geo) -> SliceOrderHasher | None:
    """A hasher of the volume as it is expected to come out (the affine its slices give), or None."""
    from ctlabel.dicom.digest import SliceOrderHasher

    try:
        with np.errstate(all="ignore"):
            affine = dicom_affine(first.orientation, lowest.position, first.pixel_spacing, geo.step_lps)
    except Exception:  # noqa: BLE001 - degenerate geometry: load_series reports it after reading
        return None
    return SliceOrderHasher(affine) if np.isfinite(affine).all() else None


def _image_stack(stack: Stack | str | os.PathLike) -> Stack:
    """The image stack to load: refused when it is no image volume or its pixel spacing is unusable."""
    if not isinstance(stack, Stack):
        stack = _single_stack(stack)
    if stack.kind not in IMAGE_KINDS:
        raise SeriesError(f"stack {stack.index} is a {stack.kind}, not an image volume", stack.files[0])
    first = stack.slices[0]
    if WarningCode.INCONSISTENT_PIXEL_SPACING in warning_codes(stack.warnings):
        raise SeriesError("slices disagree on PixelSpacing", os.path.dirname(first.path) or first.path)
    if first.pixel_spacing is None:
        raise SeriesError("PixelSpacing is missing", first.path)
    return stack


def _read_pixels(stack: Stack, headers: list, progress: Callable[[int, int], None] | None = None,
                 hasher: SliceOrderHasher | None = None) -> tuple[np.ndarray, list[str]]:
    """The slices of ``headers`` in HU (int16 when exact and it fits, float32 otherwise), and their pixel hashes."""
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(headers):
        by_file[h.path].append(i)

    exact = _integral(h.slope for h in headers) and _integral(h.intercept for h in headers)
    shape = (len(headers), stack.rows, stack.columns)
    out = np.empty(shape, dtype=np.int16 if exact else np.float32)
    hashes: list[str] = [""] * len(headers)
    items = list(by_file.items())
    read, counting = [0], threading.Lock()
    if hasher is not None:
        hasher.start(out)

    def fill(item) -> bool:
        """Read one file's frames into ``out``; False if a slice does not fit int16."""
        path, idxs = item
        # a 16-bit slice is read into its place in ``out`` and rescaled there
        frames = read_frame_into(path, headers[idxs[0]], out[idxs[0]]) if len(idxs) == 1 else None
        if frames is None:
            frames = read_frames(path, headers[idxs[0]], stack.rows, stack.columns)
        fits = True
        for i in idxs:
            h = headers[i]
            stored = frames[h.frame - 1]
            hashes[i] = pixel_hash(stored)
            fits &= _to_hu(stored, h, out, i)
            if hasher is not None:
                hasher.ready(i)
        if progress is not None:
            with counting:
                read[0] += len(idxs)
                done = min(read[0], len(headers))  # the float32 re-read counts no further
            progress(done, len(headers))
        return fits

    # File reads, hashing and numpy conversions release the GIL: a few threads
    # overlap I/O with work. Each thread writes its own slices of ``out``.
    if len(items) > 4 and LOAD_THREADS > 1:
        with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
            fits = all(list(pool.map(fill, items)))
    else:
        fits = all([fill(it) for it in items])
    if not fits:  # rescaled values beyond int16: read again as float32
        if hasher is not None:
            hasher.abandon()
        out = np.empty(shape, dtype=np.float32)
        for it in items:
            fill(it)
    return out, hashes


def _drop_duplicates(out: np.ndarray, headers: list, hashes: list[str], geo, first, where: str):
    """Drop slices that repeat a position with identical pixels; refuse conflicting ones.

    Returns the array, headers, hashes, stack geometry and warnings after the drop.
    """
    warnings = list(geo.warnings)
    keep = np.ones(len(headers), dtype=bool)
    for a, b in geo.duplicates:
        if hashes[a] == hashes[b]:
            keep[b] = False
        else:
            raise SeriesError(
                f"slices {os.path.basename(headers[a].path)} and {os.path.basename(headers[b].path)}"
                " share a position but hold different pixels; ctlabel will not guess which one"
                " belongs to the volume",
                where,
            )
    if not keep.all():
        out = out[keep]
        headers = [h for h, k in zip(headers, keep) if k]
        hashes = [x for x, k in zip(hashes, keep) if k]
        warnings = without_code(warnings, WarningCode.DUPLICATE_POSITIONS)
        warnings.append(f"duplicate_positions: {int((~keep).sum())} identical duplicate slice(s) dropped")
        geo = analyze_stack(np.array([h.position for h in headers]), first.orientation, first.slice_thickness)
        warnings += [w for w in geo.warnings if w not in warnings]
    return out, headers, hashes, geo, warnings


def _ranges(values) -> str:
    """``0-3,7`` for [0, 1, 2, 3, 7]."""
    out, vals = [], sorted(values)
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        out.append(str(vals[i]) if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ",".join(out)


def _pad_missing(
    array: np.ndarray, identities: list, positions_mm: np.ndarray, spacing: float
) -> tuple[np.ndarray, list, tuple[int, ...]] | None:
    """Place the acquired slices on the uniform grid they fit and pad the gaps.

    Returns the padded array, the slice identities with None at padded slices, and the
    padded indices; None when the slices do not fit a whole-step grid or the grid
    would exceed :data:`MAX_PADDED_SLICES`.
    """
    steps = (positions_mm - positions_mm[0]) / spacing
    k = np.round(steps).astype(int)
    tol = max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION * spacing)
    if np.any(np.abs(steps - k) * spacing > tol) or np.any(np.diff(k) < 1) or k[-1] + 1 > MAX_PADDED_SLICES:
        return None
    n = int(k[-1]) + 1
    out = np.full((n, *array.shape[1:]), PAD_HU, dtype=array.dtype)
    out[k] = array
    ids: list = [None] * n
    for src, dst in enumerate(k):
        ids[dst] = identities[src]
    return out, ids, tuple(int(i) for i in sorted(set(range(n)) - set(k.tolist())))


def _single_stack(path) -> Stack:
    result = find_series(path)
    images = [s for s in result.stacks if s.kind in IMAGE_KINDS]
    if not images:
        reasons = "; ".join(f"{p.path}: {p.reason}" for p in result.problems if p.fatal)
        raise SeriesError("no image series found" + (f" ({reasons})" if reasons else ""), path)
    if len(images) > 1:
        raise SeriesError(
            f"{len(images)} image stacks found; pick one with find_series() or `ctlabel scan`", path
        )
    return images[0]
