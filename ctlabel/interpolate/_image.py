"""Image-aware refinement of the shape-interpolated field on filled slices.

The shape-based field ``phi`` of a label on a filled slice (mm, negative inside) is
moved towards the image inside a band ``|phi| < W`` around its zero level; outside
the band it is kept, so the result never strays further than ``W`` from the
shape-only contour. ``W`` (mm) is the slice spacing times the number of slices to
the nearer painted slice, between 1 and :data:`_BAND_MAX_PX` pixels.

The image enters through ``q(I) = P(inside | I) - P(outside | I)`` in ``[-1, 1]``,
from two histograms learnt on the label's painted slices: its core (pixels at
least one pixel deep) and a ring outside it (one pixel to :data:`_RING_MM` out).
The model of a gap mixes the label's histograms with those of the two painted
slices that bound the gap. Two refinements, weight ``w``:

* ``classify``: ``f = phi - w W q(I)``;
* ``edge``: the pixels with ``q > 0`` near the contour (plus everything deeper
  than ``W``) give a signed distance map ``psi``, moved by the offset between
  such edges and the painted edges on the painted slices;
  ``f = phi + w clip(psi - phi, -W, W)``.

``f`` is used like the shape field (the smallest field wins between labels).

A label is refined only when its painted slices show that the image helps:

* the core and ring histograms must differ (Bhattacharyya coefficient below
  :data:`MAX_OVERLAP`); else the image has no contrast for it;
* with three painted slices or more, a leave-half-out test: every other inner
  painted slice is hidden (then the other half), filled from the rest with a
  model learnt from the rest, with and without the image, and compared with what
  was painted there. The best refinement that gains at least ``w`` times
  :data:`MIN_GAIN` Dice is kept. The hidden slices are twice as far from painted
  ones as real filled slices, which overstates the gain: hence the high threshold.
* with two painted slices, nothing to test on: the mildest refinement.

Otherwise the label keeps its shape-only field exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ctlabel.interpolate._matching import Box
from ctlabel.interpolate._plan import _LabelPlan
from ctlabel.interpolate._shapes import _sdf

#: Inside and ring histograms more alike than this (Bhattacharyya coefficient) mean no contrast.
MAX_OVERLAP = 0.9

#: Dice gain the leave-half-out test on the painted slices must show for a label to be refined
#: (chosen on benchmarks/interpolate_real.py so that no structure there loses more than 0.01).
MIN_GAIN = 0.1

#: Band half-width per slice of distance to the nearer painted slice, in units of the slice spacing.
_BAND_PER_SLICE = 1.0

#: Smallest and largest band half-width, in pixels.
_BAND_MIN_PX = 1.0
_BAND_MAX_PX = 6.0

#: Width (mm) of the ring outside the painted shapes from which the outside histogram is learnt.
_RING_MM = 6.0

#: Depth (pixels) below which painted pixels are edge, not core, when learning the model.
_CORE_PX = 1.0

#: Painted slices (at most) and band half-width (pixels) used to learn the edge offset.
_OFFSET_SLICES = 8
_OFFSET_BAND_PX = 3.0

#: Candidate refinements, chosen per label on the painted slices: (kind, weight).
_METHODS: tuple[tuple[str, float], ...] = (
    ("classify", 0.25),
    ("classify", 0.5),
    ("classify", 1.0),
    ("edge", 0.5),
    ("edge", 1.0),
)

#: The refinement of a label painted on two slices only (nothing to test it on): the mildest.
_DEFAULT = ("classify", 0.25)


#: Scale the gain threshold by the refinement's weight (milder refinements need less).
_SCALED_GAIN = True

#: Weight of the two painted slices bounding a gap in the intensity model of that gap.
_LOCAL = 0.5

#: Histogram range and bin width (image units, HU for CT).
_LO, _HI, _BIN = -1100.0, 2100.0, 10.0

#: Gaussian (bins) smoothing the histograms; Gaussians (pixels) smoothing the image and the result
#: (both measured worse than none on the benchmark, kept as settings).
_HIST_SIGMA = 1.5
_IMAGE_SIGMA = 0.0
_FIELD_SIGMA = 0.0


class _Model:
    """Inside / outside intensity model of one label, learnt from its painted slices.

    ``per_slice`` maps a painted slice to its inside (core) and outside (ring) values. The
    global model pools every slice; the model of a gap mixes in the two slices that bound it
    (weight :data:`_LOCAL`), for intensities that change along the structure.
    """

    def __init__(self, per_slice: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        self.nb = int(round((_HI - _LO) / _BIN))
        self.counts = {
            z: (np.bincount(_bins(i), minlength=self.nb), np.bincount(_bins(o), minlength=self.nb))
            for z, (i, o) in per_slice.items()
        }
        zero = np.zeros(self.nb, dtype=np.int64)
        self.hi = sum((c[0] for c in self.counts.values()), zero)
        self.ho = sum((c[1] for c in self.counts.values()), zero)
        self.n_in, self.n_out = int(self.hi.sum()), int(self.ho.sum())
        pi, po = self._densities(self.hi, self.ho)
        self.overlap = float(np.sqrt(pi * po).sum())
        self.q = self._q(pi, po)
        self._gap_q: dict[tuple[int, int], np.ndarray] = {}
        #: Signed distance (mm) from the edge of the inside-like pixels to the painted edge.
        self.offset = 0.0

    def _densities(self, hi: np.ndarray, ho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hi = ndi.gaussian_filter1d(hi.astype(np.float64), _HIST_SIGMA, mode="constant")
        ho = ndi.gaussian_filter1d(ho.astype(np.float64), _HIST_SIGMA, mode="constant")
        return hi / max(hi.sum(), 1e-12), ho / max(ho.sum(), 1e-12)

    def _q(self, pi: np.ndarray, po: np.ndarray) -> np.ndarray:
        # a little of a flat density, so that unseen values are undecided rather than extreme
        flat = 1.0 / self.nb
        pi = 0.98 * pi + 0.02 * flat
        po = 0.98 * po + 0.02 * flat
        # q = P(in | I) - P(out | I) with equal priors
        return ((pi - po) / (pi + po)).astype(np.float32)

    def gap_q(self, za: int, zb: int) -> np.ndarray:
        """The ``q`` table of the gap between painted slices ``za`` and ``zb``."""
        if not _LOCAL:
            return self.q
        key = (za, zb)
        q = self._gap_q.get(key)
        if q is None:
            hi = sum((self.counts[z][0] for z in key if z in self.counts), np.zeros(self.nb, dtype=np.int64))
            ho = sum((self.counts[z][1] for z in key if z in self.counts), np.zeros(self.nb, dtype=np.int64))
            if hi.sum() < 20 or ho.sum() < 20:
                q = self.q
            else:
                gi, go = self._densities(self.hi, self.ho)
                li, lo = self._densities(hi, ho)
                q = self._q((1 - _LOCAL) * gi + _LOCAL * li, (1 - _LOCAL) * go + _LOCAL * lo)
            self._gap_q[key] = q
        return q

    @property
    def usable(self) -> bool:
        return self.n_in >= 20 and self.n_out >= 20 and self.overlap < MAX_OVERLAP


def _threshold(method: tuple[str, float]) -> float:
    """Leave-half-out gain a refinement must reach: :data:`MIN_GAIN`, scaled by its weight if set."""
    return MIN_GAIN * method[1] if _SCALED_GAIN else MIN_GAIN


def _bins(values: np.ndarray) -> np.ndarray:
    nb = int(round((_HI - _LO) / _BIN))
    return np.clip(((values - _LO) / _BIN).astype(np.intp), 0, nb - 1)


class _Refiner:
    """Refines the fields of the labels whose painted slices show that the image helps."""

    def __init__(
        self,
        image: np.ndarray,
        src: np.ndarray,
        paint: dict[int, list[int]],
        plans: dict[int, _LabelPlan],
        sampling: tuple[float, float],
        dz: float,
    ) -> None:
        self.image = image
        self.src = src
        self.sampling = sampling
        self.dz = dz
        self.plans = plans
        self.models: dict[int, _Model] = {}
        self.methods: dict[int, tuple[str, float]] = {}
        self.decisions: dict[int, str] = {}
        self._smooth_cache: dict[tuple[int, int, int, int, int], np.ndarray] = {}
        for lab, zs in paint.items():
            plan = plans[lab]
            if plan.box is None or len(zs) < 2:
                continue
            model = self._learn(lab, zs, plan.box)
            if not model.usable:
                self.decisions[lab] = f"no contrast (overlap {model.overlap:.2f})"
                continue
            self.models[lab] = model
            method = _DEFAULT
            if len(zs) >= 3:
                gains = self._leave_one_out(lab, zs)
                ok = {m: g for m, g in gains.items() if g >= _threshold(m)}
                method, gain = max(ok.items() or gains.items(), key=lambda kv: kv[1])
                if not ok:
                    del self.models[lab]
                    self.decisions[lab] = f"no gain on painted slices ({gain:+.4f})"
                    continue
                self.decisions[lab] = f"refined {method} (gain {gain:+.4f}, offset {model.offset:.2f} mm)"
            else:
                self.decisions[lab] = f"refined {method} (offset {model.offset:.2f} mm)"
            self.methods[lab] = method

    # ------------------------------------------------------------------

    def _smoothed(self, z: int, box: Box) -> np.ndarray:
        key = (z, box[0].start, box[0].stop, box[1].start, box[1].stop)
        s = self._smooth_cache.get(key)
        if s is None:
            s = self.image[z][box].astype(np.float32)
            if _IMAGE_SIGMA:
                s = ndi.gaussian_filter(s, _IMAGE_SIGMA, mode="nearest")
            self._smooth_cache[key] = s
        return s

    def release(self, z: int) -> None:
        """Forget the smoothed image of slices before ``z``."""
        for k in [k for k in self._smooth_cache if k[0] < z]:
            del self._smooth_cache[k]

    def _learn(self, lab: int, zs: list[int], box: Box) -> _Model:
        """Intensity model (core of the label vs a ring outside it) and the offset of the painted edge."""
        per_slice: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        masks = []
        px = min(self.sampling)
        for z in zs:
            m = self.src[z][box] == lab
            if not m.any():
                continue
            img = self._smoothed(z, box)
            d = ndi.distance_transform_edt(~m, sampling=self.sampling)
            ring = (d > _CORE_PX * px) & (d <= _RING_MM)
            core = ndi.distance_transform_edt(m, sampling=self.sampling) > _CORE_PX * px
            per_slice[z] = (img[core if core.sum() >= 0.25 * m.sum() else m], img[ring])
            masks.append((z, m))
        model = _Model(per_slice)
        if model.usable:
            model.offset = self._learn_offset(model, masks, box)
        self._smooth_cache.clear()
        return model

    def _learn_offset(self, model: _Model, masks: list[tuple[int, np.ndarray]], box: Box) -> float:
        """Offset (mm) from the image's edge to the painted edge that fits the painted slices best."""
        px = min(self.sampling)
        step = max(1, len(masks) // _OFFSET_SLICES)
        offsets = np.arange(-1.0, 2.01, 0.25) * px
        inter = np.zeros(offsets.size)
        size = np.zeros(offsets.size)
        for z, m in masks[::step]:
            phi = _sdf(m, self.sampling)
            phi_c = self._edge_field(model.q, z, box, phi, _OFFSET_BAND_PX * px)
            for i, o in enumerate(offsets):
                p = phi_c < o
                inter[i] += np.count_nonzero(p & m)
                size[i] += np.count_nonzero(p) + np.count_nonzero(m)
        return float(offsets[int(np.argmax(inter / np.maximum(size, 1)))])

    def _edge_field(self, qt: np.ndarray, z: int, box: Box, phi: np.ndarray, width: float) -> np.ndarray:
        """Signed distance to the edge of the image's inside-like pixels near the zero level of ``phi``."""
        q = qt[_bins(self._smoothed(z, box))]
        c = ((q > 0) & (phi < width)) | (phi < -width)
        return _sdf(c, self.sampling)

    def _band(self, z: int, zs_a: int, zs_b: int) -> float:
        """Band half-width (mm) on slice ``z`` of the gap ``zs_a`` .. ``zs_b``."""
        px = min(self.sampling)
        w = _BAND_PER_SLICE * self.dz * min(z - zs_a, zs_b - z)
        return float(np.clip(w, _BAND_MIN_PX * px, _BAND_MAX_PX * px))

    def _parts(
        self, model: _Model, z: int, box: Box, f: np.ndarray, gap: tuple[int, int], edge: bool
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Band half-width, ``q`` map and (if ``edge``) offset edge map of filled slice ``z``."""
        width = self._band(z, *gap)
        q = model.gap_q(*gap)[_bins(self._smoothed(z, box))]
        psi = None
        if edge:
            psi = _sdf(((q > 0) & (f < width)) | (f < -width), self.sampling)
            psi -= np.float32(model.offset)
        return width, q, psi

    @staticmethod
    def _combine(
        method: tuple[str, float], f: np.ndarray, width: float, q: np.ndarray, psi: np.ndarray | None
    ) -> np.ndarray:
        """The refined field from the shape field ``f`` and the parts of :meth:`_parts`."""
        kind, weight = method
        if kind == "classify":
            out = f - np.float32(width * weight) * q
            if _FIELD_SIGMA:
                ndi.gaussian_filter(out, _FIELD_SIGMA, output=out, mode="nearest")
        else:
            assert psi is not None
            out = f + np.float32(weight) * np.clip(psi - f, -width, width)
        # outside the band the shape field stands
        far = np.abs(f) >= width
        out[far] = f[far]
        return out

    def _leave_one_out(self, lab: int, zs: list[int]) -> dict[tuple[str, float], float]:
        """Dice gain of each method on hidden inner painted slices (pooled), filled from the others.

        Every other inner painted slice is hidden, then the other half, so that every inner
        painted slice is tested once; the model is learnt from the slices that stay painted.
        """
        inter = dict.fromkeys(_METHODS, 0)
        size = dict.fromkeys(_METHODS, 0)
        inter_s = size_s = size_t = 0
        for held in (zs[1:-1:2], zs[2:-1:2]):
            if not held:
                continue
            keep = [z for z in zs if z not in set(held)]
            plan = _LabelPlan(self.src, lab, keep, self.sampling)
            if plan.box is None:
                continue
            box = plan.box
            model = self._learn(lab, keep, box)
            for z in held:
                truth_full = self.src[z] == lab
                truth = truth_full[box]
                size_t += int(truth_full.sum())
                res = plan.field(z)
                if res is None:
                    continue
                f = res[1]
                ps = f < 0
                inter_s += int((ps & truth).sum())
                size_s += int(ps.sum())
                i = int(np.searchsorted(keep, z)) - 1
                if model.usable:
                    parts = self._parts(model, z, box, f, (keep[i], keep[i + 1]), edge=True)
                for m in _METHODS:
                    pi = (self._combine(m, f, *parts) < 0) if model.usable else ps
                    inter[m] += int((pi & truth).sum())
                    size[m] += int(pi.sum())
            self._smooth_cache.clear()
        if size_t == 0:
            return dict.fromkeys(_METHODS, 0.0)
        base = 2.0 * inter_s / (size_s + size_t)
        return {m: 2.0 * inter[m] / (size[m] + size_t) - base for m in _METHODS}

    # ------------------------------------------------------------------

    def field(self, lab: int, z: int, box: Box, f: np.ndarray) -> np.ndarray | None:
        """The refined field of ``lab`` on filled slice ``z``, or None if the label is not refined."""
        method = self.methods.get(lab)
        if method is None:
            return None
        zs = self.plans[lab].zs
        i = int(np.searchsorted(zs, z)) - 1
        parts = self._parts(self.models[lab], z, box, f, (zs[i], zs[i + 1]), edge=method[0] == "edge")
        return self._combine(method, f, *parts)
