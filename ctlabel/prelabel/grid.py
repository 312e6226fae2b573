"""Grids and morphology for the pre-labels: slabs, mm to pixels, subsampling and refinement, holes.

Decisions are made at a working pixel size (thin-slice CT subsampled to it) and refined at full
resolution; in-plane operations run over slabs of slices so the working memory stays small.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import numpy as np
from scipy import ndimage as ndi

_SLAB = 16
_CROSS = np.zeros((3, 3, 3), bool)
_CROSS[1] = ndi.generate_binary_structure(2, 1)
_SQUARE = np.zeros((3, 3, 3), bool)
_SQUARE[1] = True
_FACES = ndi.generate_binary_structure(3, 1)


def _slabs(n: int, step: int = _SLAB) -> Iterator[slice]:
    for z in range(0, n, step):
        yield slice(z, min(n, z + step))


def _px(mm: float, spacing) -> tuple[int, int]:
    """In-plane half-widths in pixels (row, column) of a square of half-width ``mm``."""
    return cast("tuple[int, int]", tuple(max(0, int(round(mm / float(s)))) for s in spacing[1:3]))


def _area_px(mm2: float, spacing) -> float:
    return mm2 / (float(spacing[1]) * float(spacing[2]))


def _square_filter(mask: np.ndarray, half, op) -> np.ndarray:
    if not any(half):
        return mask
    size = (1, 2 * half[0] + 1, 2 * half[1] + 1)
    return op(mask.view(np.uint8), size=size, mode="nearest").view(bool)


def _label(mask: np.ndarray, structure: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components in the smallest integer type that holds them."""
    try:
        return ndi.label(mask, structure, output=np.uint16)
    except RuntimeError:  # more than 65535 components
        return ndi.label(mask, structure)


# --- working grid: decide on a coarse in-plane grid, refine at full resolution ------------------
def _factors(spacing, work_mm: float) -> tuple[int, int]:
    return cast("tuple[int, int]", tuple(max(1, int(work_mm / float(s) + 1e-6)) for s in spacing[1:3]))


def _coarse(arr: np.ndarray, f) -> np.ndarray:
    """Every f-th pixel in-plane, centred (a view: no copy)."""
    return arr[:, f[0] // 2::f[0], f[1] // 2::f[1]]


def _coarse_spacing(spacing, f) -> tuple[float, float, float]:
    return (float(spacing[0]), float(spacing[1]) * f[0], float(spacing[2]) * f[1])


def _upsample(mc: np.ndarray, f, shape) -> np.ndarray:
    """A coarse slab back on the full grid (each coarse pixel repeated f times; edges extended)."""
    n, r, c = mc.shape
    up = mc.view(np.uint8)
    if f[1] in (2, 4):  # repeat each byte by widening it: far faster than np.repeat on the last axis
        wide, ones = (np.uint16, 0x0101) if f[1] == 2 else (np.uint32, 0x01010101)
        up = (up.astype(wide) * ones).view(np.uint8).reshape(n, r, c * f[1])
    elif f[1] > 1:
        up = np.repeat(up, f[1], axis=2)
    up = np.repeat(up, f[0], axis=1) if f[0] > 1 else up
    if up.shape[1] < shape[1] or up.shape[2] < shape[2]:
        up = np.pad(up, ((0, 0), (0, max(0, shape[1] - up.shape[1])), (0, max(0, shape[2] - up.shape[2]))),
                    mode="edge")
    return up[:, :shape[1], :shape[2]].view(bool)


def _refined(mc: np.ndarray, hu: np.ndarray, f, keep) -> Iterator[tuple[slice, np.ndarray]]:
    """Full-resolution slabs of a coarse mask: its inside, plus the border pixels where ``keep(hu)``.

    Slabs where the mask is empty are skipped.
    """
    for sl in _slabs(hu.shape[0]):
        m = mc[sl]
        if not m.any():
            continue
        if f == (1, 1):
            yield sl, m
            continue
        inside = _upsample(_box_op(m, (0, 1, 1), True), f, hu.shape)
        inside &= keep(hu[sl])
        inside |= _upsample(_box_op(m, (0, 1, 1), False), f, hu.shape)
        yield sl, inside


def _full(mc: np.ndarray, hu: np.ndarray, f, keep) -> np.ndarray:
    out = np.zeros(hu.shape, bool)
    for sl, m in _refined(mc, hu, f, keep):
        out[sl] = m
    return out


def _setup(hu, spacing, work_mm, *masks):
    f = _factors(spacing, work_mm)
    return f, _coarse(hu, f), _coarse_spacing(spacing, f), [None if m is None else _coarse(m, f) for m in masks]


# --- the methods on any grid -------------------------------------------------------------------
def fill_holes_2d(mask: np.ndarray, max_hole_px: float | None = None) -> np.ndarray:
    """Fill the holes of each slice (regions not connected to the slice border).

    Parameters
    ----------
    mask : numpy.ndarray of bool
        (slice, row, column).
    max_hole_px : float, optional
        Only fill holes of at most this many pixels.

    Returns
    -------
    numpy.ndarray of bool
    """
    out = np.empty(mask.shape, bool)
    for sl in _slabs(mask.shape[0]):
        m = mask[sl]
        if not m.any():
            out[sl] = m
            continue
        out[sl] = m | enclosed(m, max_hole_px)
    return out


def enclosed(mask: np.ndarray, max_hole_px: float | None = None) -> np.ndarray:
    """The pixels outside ``mask`` that it encloses within their slice.

    Enclosed: in a 4-connected region of a slice's pixels outside ``mask`` that does not reach
    the slice border; with ``max_hole_px``, only regions of at most that many pixels.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        (slice, row, column).
    max_hole_px : float, optional
        The largest region counted (None: all).

    Returns
    -------
    numpy.ndarray of bool
    """
    lab, n = _label(~mask, _CROSS)
    fill = np.ones(n + 1, bool)
    fill[0] = False
    for edge in (lab[:, 0], lab[:, -1], lab[:, :, 0], lab[:, :, -1]):
        fill[edge] = False
    if max_hole_px is not None:
        fill &= np.bincount(lab.ravel(), minlength=n + 1) <= max_hole_px
    return fill[lab]


def _inner(body: np.ndarray, spacing, surface_mm: float) -> np.ndarray:
    """The body eroded in-plane by ``surface_mm`` (air at the skin is partial volume, not gas)."""
    half = _px(surface_mm, spacing)
    out = np.empty(body.shape, bool)
    for sl in _slabs(body.shape[0]):
        out[sl] = _square_filter(body[sl], half, ndi.minimum_filter)
    return out


def _components(mask: np.ndarray, hu: np.ndarray, spacing, min_volume_ml: float, median_range=None) -> np.ndarray:
    """The 3D components of ``mask`` of at least ``min_volume_ml`` (and a median HU within the range)."""
    out = np.zeros(mask.shape, bool)
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    if not zs.size:
        return out
    box = slice(zs[0], zs[-1] + 1)  # label only the slices that hold candidates
    lab, n = _label(mask[box], _FACES)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    size = np.zeros(n + 1, np.int64)
    for sl in _slabs(lab.shape[0]):  # slab by slab: bincount would widen the whole volume to int64
        size += np.bincount(lab[sl].ravel(), minlength=n + 1)
    keep = size * voxel_ml >= min_volume_ml
    keep[0] = False
    if median_range is not None and keep.any():
        sub, boxes = hu[box], ndi.find_objects(lab)
        for i in np.flatnonzero(keep):
            b = boxes[i - 1]
            keep[i] = median_range[0] <= np.median(sub[b][lab[b] == i]) <= median_range[1]
    out[box] = keep[lab]
    return out


def _box_op(mask: np.ndarray, counts, dilate: bool) -> np.ndarray:
    """Dilation or erosion by a box of ``counts`` voxels each side per axis, by shifts (edges kept)."""
    out = mask.copy()
    op = np.logical_or if dilate else np.logical_and
    for axis, k in enumerate(counts):
        for _ in range(k):
            src = out.copy()
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            op(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
            op(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out
