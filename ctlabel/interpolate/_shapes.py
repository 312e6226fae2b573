"""Distance maps, shifts, overlaps and centroids of 2D masks; the interpolation's tuning constants."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Two overlapping sides of a group are aligned on their centroids before
#: blending when their intersection over union is below this.
ALIGN_IOU = 0.5

#: Pixels added around each label's bounding box so that distance maps are
#: exact inside the box.
_MARGIN = 2

#: Gaussian sigma (pixels) applied to every slice's distance map before blending.
_SMOOTH = 0.5

#: Cubic (Catmull-Rom) blend of the distance maps across neighbouring gaps where they are plain.
_CUBIC = True

#: Fraction of the smaller slice that must lie inside the larger for the cubic blend.
_NESTED = 0.9

#: 8-connectivity for 2D components.
_STRUCT = np.ones((3, 3), dtype=bool)



# --------------------------------------------------------------------------
# Distance maps and shifts
# --------------------------------------------------------------------------


def _sdf(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """Signed distance (float32, negative inside) with the zero level half a pixel out.

    Pixel centres on either side of an edge are at -h/2 and +h/2 (h the pixel
    size across the edge), so the map is a close estimate of the distance to
    the continuous boundary between pixels.
    """
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    half = 0.5 * min(sampling)
    out = ndi.distance_transform_edt(~mask, sampling=sampling).astype(np.float32)
    inside = ndi.distance_transform_edt(mask, sampling=sampling).astype(np.float32)
    out -= inside
    # move both sides half a pixel towards the edge
    out[mask] += half
    out[~mask] -= half
    if _SMOOTH:
        # soften the staircase of the pixel edges (keeps the zero level where the edge is straight)
        ndi.gaussian_filter(out, _SMOOTH, output=out, mode="nearest")
    return out


def _resample(a: np.ndarray, ry: np.ndarray, rx: np.ndarray) -> np.ndarray:
    """``out[i, j] = a[ry[i], rx[j]]``, bilinear (separable), coordinates clamped to the edges."""
    h, w = a.shape
    ry = np.clip(ry, 0, h - 1)
    rx = np.clip(rx, 0, w - 1)
    y0 = np.minimum(ry.astype(np.intp), h - 2) if h > 1 else np.zeros(ry.shape, np.intp)
    x0 = np.minimum(rx.astype(np.intp), w - 2) if w > 1 else np.zeros(rx.shape, np.intp)
    wy = (ry - y0).astype(np.float32)[:, None]
    wx = (rx - x0).astype(np.float32)
    rows = a[y0] * (1 - wy) + a[np.minimum(y0 + 1, h - 1)] * wy
    return rows[:, x0] * (1 - wx) + rows[:, np.minimum(x0 + 1, w - 1)] * wx


def _shift(a: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``out[y, x] = a[y - dy, x - dx]`` with bilinear interpolation, edges replicated."""
    if dy == 0 and dx == 0:
        return a
    h, w = a.shape
    return _resample(a, np.arange(h) - dy, np.arange(w) - dx)


def _iou(a: np.ndarray, b: np.ndarray, shift: tuple[int, int] = (0, 0)) -> float:
    """Intersection over union of ``a`` moved by ``shift`` (whole pixels) and ``b``."""
    dy, dx = shift
    h, w = a.shape
    inter: int | np.integer
    if abs(dy) >= h or abs(dx) >= w:
        inter = 0
    else:
        sa = a[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        sb = b[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
        inter = np.count_nonzero(sa & sb)
    union = np.count_nonzero(a) + np.count_nonzero(b) - inter
    return inter / union if union else 1.0


def _iou_scaled(a: np.ndarray, b: np.ndarray, ca: np.ndarray, cb: np.ndarray, k: np.ndarray) -> float:
    """Intersection over union of ``b`` and ``a`` scaled by ``k`` about ``ca`` and moved to ``cb``."""
    inv = 1.0 / k
    moved = ndi.affine_transform(a.view(np.uint8), inv, offset=ca - cb * inv, order=0, mode="constant")
    inter = np.count_nonzero(moved & b)
    # the moved mask may leave the window: count its area from the scale, not from the pixels
    union = np.count_nonzero(a) * float(k[0] * k[1]) + np.count_nonzero(b) - inter
    return inter / union if union else 1.0


def _nested(a: np.ndarray, b: np.ndarray) -> bool:
    """True if the smaller of two masks lies (almost) inside the larger: a growing or shrinking shape."""
    small = min(np.count_nonzero(a), np.count_nonzero(b))
    return bool(small > 0 and np.count_nonzero(a & b) >= _NESTED * small)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])
