"""Synthetic 3D shapes for the interpolation accuracy tests and benchmark.

Every generator returns a boolean ``(z, y, x)`` array of shape
:data:`GRID` (64 x 128 x 128) with the shape rasterised slice by slice from
its analytic definition (a voxel is inside when its centre is inside), and the
first and last slice index of the shape along ``z``.

The benchmark ``benchmarks/interpolate.py`` imports this module too, so the
shapes are defined in one place only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: The grid every synthetic shape lives in, ``(z, y, x)``.
GRID = (64, 128, 128)


def _yx() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0 : GRID[1], 0 : GRID[2]]
    return yy.astype(np.float64), xx.astype(np.float64)


def ellipsoid() -> np.ndarray:
    """Ellipsoid, centre ``(32, 64, 64)``, semi-axes ``(28, 40, 25)``."""
    zz, yy, xx = np.mgrid[0 : GRID[0], 0 : GRID[1], 0 : GRID[2]].astype(np.float64)
    return ((zz - 32) / 28) ** 2 + ((yy - 64) / 40) ** 2 + ((xx - 64) / 25) ** 2 <= 1.0


def trouser() -> np.ndarray:
    """Trunk of radius-12 discs for z 6-25, then two legs moving apart 1.1 px/slice each."""
    out = np.zeros(GRID, dtype=bool)
    yy, xx = _yx()
    for z in range(6, 59):
        off = 1.1 * (z - 25) if z > 25 else 0.0
        for cx in (64 - off, 64 + off):
            out[z] |= (yy - 64) ** 2 + (xx - cx) ** 2 <= 12**2
    return out


def shifted_disc() -> np.ndarray:
    """Disc of radius 10 at y 64, x = 14 + 2.5 (z - 6), for z 6-46."""
    out = np.zeros(GRID, dtype=bool)
    yy, xx = _yx()
    for z in range(6, 47):
        cx = 14 + 2.5 * (z - 6)
        out[z] = (yy - 64) ** 2 + (xx - cx) ** 2 <= 10**2
    return out


def thin_tube() -> np.ndarray:
    """Tube of radius 3, x = 64 + 35 sin(pi t), y = 40 + 50 t, t = (z - 4) / 55, z 4-59."""
    out = np.zeros(GRID, dtype=bool)
    yy, xx = _yx()
    for z in range(4, 60):
        t = (z - 4) / 55
        cx = 64 + 35 * np.sin(np.pi * t)
        cy = 40 + 50 * t
        out[z] = (yy - cy) ** 2 + (xx - cx) ** 2 <= 3**2
    return out


def crescent() -> np.ndarray:
    """Band of half-width 2 around radius 30 + 0.2 (z - 8), 90-degree gap, 2 degrees/slice, z 8-56."""
    out = np.zeros(GRID, dtype=bool)
    yy, xx = _yx()
    r = np.hypot(yy - 64, xx - 64)
    ang = np.degrees(np.arctan2(yy - 64, xx - 64))
    for z in range(8, 57):
        radius = 30 + 0.2 * (z - 8)
        gap_centre = 2.0 * (z - 8)
        rel = (ang - gap_centre + 180.0) % 360.0 - 180.0
        out[z] = (np.abs(r - radius) <= 2.0) & (np.abs(rel) > 45.0)
    return out


#: Name -> generator, in the order the accuracy table lists them.
SHAPES: dict[str, Callable[[], np.ndarray]] = {
    "ellipsoid": ellipsoid,
    "trouser": trouser,
    "shifted_disc": shifted_disc,
    "thin_tube": thin_tube,
    "crescent": crescent,
}


def extent(mask: np.ndarray) -> tuple[int, int]:
    """First and last slice (axis 0) on which ``mask`` has a voxel."""
    zs = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    return int(zs[0]), int(zs[-1])


def painted_slices(mask: np.ndarray, k: int) -> list[int]:
    """Every ``k``-th slice of the shape's own extent from its first slice, plus its last."""
    first, last = extent(mask)
    out = list(range(first, last + 1, k))
    if out[-1] != last:
        out.append(last)
    return out


def pooled_dice(pred: np.ndarray, truth: np.ndarray, slices: list[int]) -> float:
    """Dice of two boolean volumes pooled over the given slices (axis 0)."""
    p = pred[slices]
    t = truth[slices]
    denom = int(p.sum()) + int(t.sum())
    if denom == 0:
        return 1.0
    return 2.0 * int(np.logical_and(p, t).sum()) / denom
