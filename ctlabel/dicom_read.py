"""Build a :class:`~ctlabel.volume.Volume` from a stack found by :func:`find_series`.

Pixel data is decoded by pydicom (with pylibjpeg plugins for JPEG, JPEG-LS,
JPEG 2000 and RLE). Geometry comes from ImagePositionPatient and
ImageOrientationPatient only, never from file names or InstanceNumber.
"""

from __future__ import annotations

import os
import warnings as pywarnings
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom

from ctlabel.dicom_scan import Stack, find_series
from ctlabel.errors import DicomReadError, InputError, SeriesError
from ctlabel.geometry import analyze_stack, dicom_affine
from ctlabel.volume import SliceIdentity, SourceIdentity, Volume, pixel_hash

#: Threads that read, hash and convert slices in :func:`load_series`. Batch
#: conversion sets 1: there, ``--jobs`` worker processes share the cores.
LOAD_THREADS = min(4, os.cpu_count() or 1)

#: What to do with a series whose slices no single affine can place exactly.
IRREGULAR_POLICIES = ("keep", "error")

_INT16 = np.iinfo(np.int16)


def _decode(path: str) -> tuple[object, np.ndarray]:
    """Read a file and decode all its frames: returns (dataset, array [frames, rows, cols])."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - truncated or junk bytes
        raise DicomReadError(f"cannot read the file ({type(exc).__name__}: {exc})", path) from None
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise DicomReadError("the file has no pixel data", path)
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")
            arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many kinds
        raise DicomReadError(f"cannot decode the pixel data ({type(exc).__name__}: {exc})", path) from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ExplicitVRLittleEndian).is_compressed:
        need = int(ds.Rows) * int(ds.Columns) * frames * int(ds.BitsAllocated) // 8
        have = len(ds.PixelData)
        if have not in (need, need + 1):
            raise DicomReadError(
                f"pixel data holds {have} bytes but Rows x Columns x frames needs {need}", path)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] != frames:
        raise DicomReadError(f"pixel data has shape {arr.shape}, expected {frames} grey frame(s)", path)
    return ds, arr


def _read_frames(path: str, header, rows: int, cols: int) -> np.ndarray:
    """All frames of a file as stored values, [frames, rows, cols].

    Native little-endian data located by the header scan is read directly;
    anything else goes through pydicom's decoders.
    """
    raw = header.raw
    if raw is None:
        _, frames = _decode(path)
    else:
        n = os.path.getsize(path)
        count = (n - raw.offset) // np.dtype(raw.dtype).itemsize
        per_frame = rows * cols
        frames_in_file = max(1, count // per_frame) if count >= per_frame else 0
        if frames_in_file == 0:
            raise DicomReadError("the pixel data is truncated", path)
        try:
            data = np.fromfile(path, dtype=raw.dtype, count=frames_in_file * per_frame, offset=raw.offset)
        except (OSError, ValueError) as exc:
            raise DicomReadError(f"cannot read the pixel data ({exc})", path) from None
        frames = data.reshape(frames_in_file, rows, cols)
    if frames.shape[1:] != (rows, cols):
        raise SeriesError(f"pixel data is {frames.shape[1]}x{frames.shape[2]}, the series is {rows}x{cols}", path)
    if header.frame > frames.shape[0]:
        raise DicomReadError(f"the pixel data holds {frames.shape[0]} frame(s), frame {header.frame} is missing", path)
    return frames


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
    if slope == 1 and stored.dtype.itemsize <= 2:
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
) -> Volume:
    """Read the pixels of an image stack into a :class:`Volume` in HU.

    Parameters
    ----------
    stack : Stack or path
        A stack from :func:`find_series`, or a path holding exactly one image stack.
    irregular : {"keep", "error"}
        Policy for non-uniform spacing, missing slices and gantry tilt. ``"keep"``
        keeps every acquired slice unresampled and records the irregularity in
        ``Volume.warnings`` (see docs/conventions.md); ``"error"`` raises
        :class:`SeriesError`.

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
    if not isinstance(stack, Stack):
        stack = _single_stack(stack)
    if stack.kind not in ("volume", "single"):
        raise SeriesError(f"stack {stack.index} is a {stack.kind}, not an image volume", stack.files[0])
    headers = stack.slices
    first = headers[0]
    where = os.path.dirname(first.path) or first.path
    if any(w.startswith("inconsistent_pixel_spacing") for w in stack.warnings):
        raise SeriesError("slices disagree on PixelSpacing", where)
    if first.pixel_spacing is None:
        raise SeriesError("PixelSpacing is missing", first.path)

    geo = analyze_stack(np.array([h.position for h in headers]), first.orientation, first.slice_thickness)
    if geo.order.tolist() != list(range(len(headers))):
        headers = [headers[i] for i in geo.order]

    by_file: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(headers):
        by_file[h.path].append(i)

    exact = _integral(h.slope for h in headers) and _integral(h.intercept for h in headers)
    shape = (len(headers), stack.rows, stack.columns)
    out = np.empty(shape, dtype=np.int16 if exact else np.float32)
    hashes: list[str] = [""] * len(headers)
    items = list(by_file.items())

    def fill(item) -> bool:
        """Read one file's frames into ``out``; False if a slice does not fit int16."""
        path, idxs = item
        frames = _read_frames(path, headers[idxs[0]], stack.rows, stack.columns)
        fits = True
        for i in idxs:
            h = headers[i]
            stored = frames[h.frame - 1]
            hashes[i] = pixel_hash(stored)
            fits &= _to_hu(stored, h, out, i)
        return fits

    # File reads, hashing and numpy conversions release the GIL: a few threads
    # overlap I/O with work. Each thread writes its own slices of ``out``.
    if len(items) > 4 and LOAD_THREADS > 1:
        with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
            fits = all(list(pool.map(fill, items)))
    else:
        fits = all([fill(it) for it in items])
    if not fits:  # rescaled values beyond int16: read again as float32
        out = np.empty(shape, dtype=np.float32)
        for it in items:
            fill(it)

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
        warnings = [w for w in warnings if not w.startswith("duplicate_positions")]
        warnings.append(f"duplicate_positions: {int((~keep).sum())} identical duplicate slice(s) dropped")
        geo = analyze_stack(np.array([h.position for h in headers]), first.orientation, first.slice_thickness)
        warnings += [w for w in geo.warnings if w not in warnings]

    irregular_codes = {"non_uniform_spacing", "missing_slices", "gantry_tilt"}
    if irregular == "error":
        bad = [w for w in warnings if w.split(":", 1)[0] in irregular_codes]
        if bad:
            raise SeriesError("irregular geometry: " + "; ".join(bad), where)

    affine = dicom_affine(first.orientation, headers[0].position, first.pixel_spacing, geo.step_lps)
    source = SourceIdentity(
        study_uid=stack.study_uid,
        series_uid=stack.series_uid,
        frame_of_reference_uid=stack.frame_of_reference_uid,
        slices=tuple(
            SliceIdentity(h.sop_instance_uid, h.frame, h.position, hh) for h, hh in zip(headers, hashes)
        ),
        series_description=stack.description,
        series_number=stack.series_number,
        modality=stack.modality,
    )
    return Volume(out, affine, source, warnings, geo.positions_mm)


def _single_stack(path) -> Stack:
    result = find_series(path)
    images = [s for s in result.stacks if s.kind in ("volume", "single")]
    if not images:
        reasons = "; ".join(f"{p.path}: {p.reason}" for p in result.problems if p.fatal)
        raise SeriesError("no image series found" + (f" ({reasons})" if reasons else ""), path)
    if len(images) > 1:
        raise SeriesError(
            f"{len(images)} image stacks found; pick one with find_series() or `ctlabel scan`", path
        )
    return images[0]
