"""Correspondence between the components of two painted slices: groups, matches, alignment terms."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ctlabel.interpolate._shapes import _STRUCT, _centroid, _resample, _sdf, _shift

# --------------------------------------------------------------------------
# Per-label planning
# --------------------------------------------------------------------------


Box = tuple[slice, slice]


class _Side:
    """A painted slice of one label, cropped to the label's box, with cached maps.

    Components are numbered from 1 (8-connectivity). A group of components is a
    sorted tuple of their numbers.
    """

    def __init__(self, mask: np.ndarray, sampling: tuple[float, float]) -> None:
        self.mask = mask
        self.sampling = sampling
        self.comp, self.ncomp = ndi.label(mask, structure=_STRUCT)
        self.objects: list[Box] = ndi.find_objects(self.comp) if self.ncomp else []
        self.all: tuple[int, ...] = tuple(range(1, self.ncomp + 1))
        self._sdf_all: np.ndarray | None = None
        self._centroids: dict[tuple[int, ...], np.ndarray] = {}

    def group_mask(self, group: tuple[int, ...], win: Box | None = None) -> np.ndarray:
        comp = self.comp if win is None else self.comp[win]
        if group == self.all:
            return comp > 0
        if len(group) == 1:
            return comp == group[0]
        return np.isin(comp, group)

    def bbox(self, group: tuple[int, ...]) -> tuple[int, int, int, int]:
        objs = [self.objects[i - 1] for i in group]
        return (
            min(o[0].start for o in objs),
            max(o[0].stop for o in objs),
            min(o[1].start for o in objs),
            max(o[1].stop for o in objs),
        )

    def centroid(self, group: tuple[int, ...]) -> np.ndarray:
        c = self._centroids.get(group)
        if c is None:
            y0, _, x0, _ = self.bbox(group)
            win = (slice(y0, None), slice(x0, None))
            c = _centroid(self.group_mask(group, win)) + (y0, x0)
            self._centroids[group] = c
        return c

    def spread(self, group: tuple[int, ...]) -> np.ndarray:
        """Standard deviation of the group's pixel coordinates along y and x (pixels)."""
        y0, _, x0, _ = self.bbox(group)
        ys, xs = np.nonzero(self.group_mask(group, (slice(y0, None), slice(x0, None))))
        # + 1/12: the spread of one pixel, so that a single pixel has a size
        return np.sqrt(np.array([ys.var(), xs.var()]) + 1.0 / 12.0)

    def sdf(self, group: tuple[int, ...], win: Box) -> np.ndarray:
        """Signed distance map of ``group`` inside the window ``win`` (which must hold it)."""
        if group == self.all:
            if self._sdf_all is None:
                self._sdf_all = _sdf(self.mask, self.sampling)
            return self._sdf_all[win]
        return _sdf(self.group_mask(group, win), self.sampling)


class _Match:
    """How one group of components of a gap is interpolated (before any distance map)."""

    __slots__ = ("aligned", "ca", "cb", "ga", "gb", "kind", "scale")

    def __init__(
        self,
        kind: str,
        ga: tuple[int, ...],
        gb: tuple[int, ...],
        ca: np.ndarray | None = None,
        cb: np.ndarray | None = None,
        aligned: bool = False,
        scale: np.ndarray | None = None,
    ) -> None:
        self.kind = kind  # "blend", "taper_a" (only on side a) or "taper_b"
        self.ga = ga
        self.gb = gb
        self.ca = ca
        self.cb = cb
        self.aligned = aligned  # blend along the centroid path instead of in place
        self.scale = scale  # size of side b over side a along y and x, when aligned with scaling


class _Term:
    """One piece of the interpolated field between two painted slices, in a window of the box."""

    __slots__ = ("ca", "cb", "depth", "kind", "ma", "mb", "sa", "sb", "scale", "tangents", "win")
    ca: np.ndarray | None
    cb: np.ndarray | None
    ma: np.ndarray | None
    mb: np.ndarray | None

    def __init__(
        self,
        kind: str,
        win: Box,
        sa: np.ndarray | None,
        sb: np.ndarray | None,
        depth: float = 0.0,
        path: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
        scale: np.ndarray | None = None,
        tangents: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.kind = kind
        self.scale = scale
        self.tangents = tangents
        self.win = win
        self.sa = sa
        self.sb = sb
        self.depth = depth
        # centroid path (cubic Hermite): positions and tangents at t = 0 and t = 1
        self.ca, self.cb, self.ma, self.mb = path if path is not None else (None, None, None, None)

    def at(self, t: float) -> np.ndarray:
        t32 = np.float32(t)
        if self.kind == "blend":
            assert self.sa is not None and self.sb is not None
            if self.ca is None:
                if self.tangents is not None:
                    t2, t3 = t * t, t * t * t
                    h00, h10 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t
                    h01, h11 = -2 * t3 + 3 * t2, t3 - t2
                    ta, tb = self.tangents
                    return (
                        self.sa * np.float32(h00)
                        + ta * np.float32(h10)
                        + self.sb * np.float32(h01)
                        + tb * np.float32(h11)
                    )
                return self.sa * (1 - t32) + self.sb * t32
            assert self.cb is not None and self.ma is not None and self.mb is not None  # the path has all four
            p = _hermite(t, self.ca, self.cb, self.ma, self.mb)
            if self.scale is not None:
                ka = 1.0 + t * (self.scale - 1.0)  # size at t over size of side a
                kb = ka / self.scale
                a = _warp(self.sa, ka, self.ca, p)
                b = _warp(self.sb, kb, self.cb, p)
                return a * (1 - t32) + b * t32
            oa = p - self.ca
            ob = p - self.cb
            a = _shift(self.sa, float(oa[0]), float(oa[1]))
            b = _shift(self.sb, float(ob[0]), float(ob[1]))
            return a * (1 - t32) + b * t32
        if self.kind == "taper_a":  # vanishes at t = 1
            assert self.sa is not None
            return self.sa + np.float32(self.depth * t)
        assert self.sb is not None  # vanishes at t = 0
        return self.sb + np.float32(self.depth * (1 - t))


def _warp(a: np.ndarray, k: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Scale the map ``a`` by ``k`` (per axis) about ``c`` and move ``c`` to ``p``; distances scaled too."""
    h, w = a.shape
    out = _resample(a, c[0] + (np.arange(h) - p[0]) / k[0], c[1] + (np.arange(w) - p[1]) / k[1])
    out *= np.float32(np.sqrt(k[0] * k[1]))
    return out


def _hermite(t: float, p0: np.ndarray, p1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    t2 = t * t
    t3 = t2 * t
    return (2 * t3 - 3 * t2 + 1) * p0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * p1 + (t3 - t2) * m1
