"""The default region grow: its HU range from the clicked neighbourhood, cut at thin bridges.

A fixed ± HU around the click floods on soft tissue: spleen, liver, kidneys, muscle and bowel lie
within a few tens of HU of each other and touch through thin bridges, so a ±100 HU grow from a
click in the spleen takes the abdomen. This module grows on the clicked slice instead:

1. The slice is smoothed (Gaussian, ``smooth_mm``) against noise.
2. The neighbourhood of the click (a disc of ``window_mm``) gives the centre of the range, the
   median of the smoothed slice there, and its scale, the robust SD (1.4826 × MAD) of the
   unsmoothed HU there.
3. For tolerances from ``k_low`` to ``k_high`` scales, the voxels within the tolerance are
   taken, their holes filled, and a morphological opening by a disc cuts the thin bridges to
   neighbouring tissue: its radius is ``neck`` × the region's depth at the click (so necks
   narrower than the organ is deep there are cut), at most ``max_opening_mm``. The grown
   region is the opened component of the click.
4. The tolerance is widened step by step while the region grows smoothly; the first step at
   which it more than ``jump``-folds, reaching far (``leak_mm``) beyond the region before it, is
   a leak into a neighbour, and the step before it is kept.

Everything is whole-array scipy work (Gaussian filter, Euclidean distance transforms, labelling,
hole filling); the opening uses distance transforms, so its cost does not depend on the radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class AutoGrowOptions:
    """The parameters of the neighbourhood-adaptive grow (:func:`auto_grow_slice`).

    Attributes
    ----------
    window_mm : float
        Radius of the disc around the click whose statistics set the HU range.
    smooth_mm : float
        Sigma of the in-plane Gaussian smoothing of the slice (0: none).
    k_low, k_high : float
        The smallest and largest tolerance tried, in robust SDs of the window.
    steps : int
        Number of tolerances tried from ``k_low`` to ``k_high``.
    jump, leak_mm, leak_fraction : float
        A step that multiplies the grown area by more than ``jump`` and adds more than
        ``leak_fraction`` × the area before it farther than ``leak_mm`` from the region before it
        is a leak: stop before it. (A jump that only fills in near the region is the organ's own
        noise closing up as the range widens.)
    neck : float
        Opening radius as a fraction of the region's depth (distance to its edge) at the click.
    max_opening_mm : float
        Largest opening radius.
    min_sd_hu : float
        Floor of the window's robust SD (a flat window would give a zero range).
    """

    window_mm: float = 10.0
    smooth_mm: float = 2.0
    k_low: float = 1.0
    k_high: float = 2.0
    steps: int = 5
    jump: float = 2.0
    leak_mm: float = 15.0
    leak_fraction: float = 0.5
    neck: float = 0.5
    max_opening_mm: float = 9.0
    min_sd_hu: float = 5.0


@dataclass(frozen=True)
class AutoGrow:
    """What :func:`auto_grow_slice` grew, and the HU range it chose.

    Attributes
    ----------
    mask : numpy.ndarray of bool
        The grown region on the slice, (row, column); empty if nothing could be grown.
    center_hu : float
        The range's centre: the median of the smoothed slice around the click.
    tolerance_hu : float
        The half-width kept (the range is ``center_hu ± tolerance_hu``, on the smoothed slice).
    sd_hu : float
        The robust SD of the click's neighbourhood, the tolerances' unit.
    """

    mask: np.ndarray
    center_hu: float
    tolerance_hu: float
    sd_hu: float

    @property
    def hu_range(self) -> tuple[float, float]:
        """``(low, high)`` HU of the range kept."""
        return self.center_hu - self.tolerance_hu, self.center_hu + self.tolerance_hu


def _disc(shape: tuple[int, int], center: tuple[int, int], radius_mm: float, spacing) -> np.ndarray:
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    d2 = ((rows - center[0]) * spacing[0]) ** 2 + ((cols - center[1]) * spacing[1]) ** 2
    return d2 <= radius_mm ** 2


def neighbourhood_stats(smooth: np.ndarray, raw: np.ndarray, window: np.ndarray,
                        min_sd_hu: float) -> tuple[float, float]:
    """The centre (median of ``smooth``) and scale (robust SD of ``raw``) within ``window``.

    Parameters
    ----------
    smooth, raw : numpy.ndarray
        The smoothed and the unsmoothed slice, HU.
    window : numpy.ndarray of bool
        The neighbourhood of the click.
    min_sd_hu : float
        Floor of the scale.

    Returns
    -------
    tuple of float
        ``(centre, sd)`` in HU.
    """
    values = raw[window]
    mad = float(np.median(np.abs(values - np.median(values))))
    return float(np.median(smooth[window])), max(1.4826 * mad, float(min_sd_hu))


def _cut(within: np.ndarray, seed: tuple[int, int], spacing, window_mm: float,
         opts: AutoGrowOptions) -> np.ndarray | None:
    """The component of ``seed`` in ``within`` (holes filled) after the neck-cutting opening."""
    filled = ndi.binary_fill_holes(within)
    r, c = seed
    depth = ndi.distance_transform_edt(filled, sampling=spacing)
    local = float(depth[max(0, r - 1):r + 2, max(0, c - 1):c + 2].max())
    radius = min(opts.neck * local, opts.max_opening_mm)
    if radius >= min(spacing):
        core = depth > radius  # erosion by a disc of ``radius``
        if not core.any():
            return None
        dist, (ir, ic) = ndi.distance_transform_edt(~core, sampling=spacing, return_indices=True)
        opened = dist <= radius  # ... dilated back by the same disc: the opening
        if not opened[r, c]:  # the click sits in a cut-off sliver: start from the nearest core
            r, c = int(ir[r, c]), int(ic[r, c])
            if np.hypot((r - seed[0]) * spacing[0], (c - seed[1]) * spacing[1]) > window_mm:
                return None
    else:
        opened = filled
        if not opened[r, c]:
            return None
    labels, _ = ndi.label(opened)
    return ndi.binary_fill_holes(labels == labels[r, c])


def _reaches_far(grown: np.ndarray, before: np.ndarray, spacing, opts: AutoGrowOptions) -> bool:
    """Whether a jump in area went far (a leak), not only filled in near the region before it."""
    far = ndi.distance_transform_edt(~before, sampling=spacing) > opts.leak_mm
    return bool(np.count_nonzero(grown & far) > opts.leak_fraction * np.count_nonzero(before))


def auto_grow_slice(image: np.ndarray, seed: tuple[int, int], spacing=(1.0, 1.0), *,
                    options: AutoGrowOptions | None = None) -> AutoGrow:
    """Grow from ``seed`` on one slice, the HU range set by the click's neighbourhood.

    Parameters
    ----------
    image : numpy.ndarray
        The slice, (row, column) HU.
    seed : tuple of int
        The clicked pixel, (row, column).
    spacing : sequence of float
        (row, column) mm.
    options : AutoGrowOptions, optional
        The method's parameters (default: ``AutoGrowOptions()``).

    Returns
    -------
    AutoGrow
        The grown region and the range chosen (see the module's docstring).
    """
    opts = options if options is not None else AutoGrowOptions()
    spacing = tuple(float(s) for s in spacing)
    raw = np.asarray(image, np.float32)
    smooth = ndi.gaussian_filter(raw, [opts.smooth_mm / s for s in spacing]) if opts.smooth_mm > 0 else raw
    window = _disc(raw.shape, seed, opts.window_mm, spacing)
    center, sd = neighbourhood_stats(smooth, raw, window, opts.min_sd_hu)
    distance = np.abs(smooth - np.float32(center))
    # Every grown region lies in the widest tolerance's components near the click: work on their box.
    widest = ndi.binary_fill_holes(distance <= opts.k_high * sd)
    labels, _ = ndi.label(widest)
    near = np.unique(labels[window & widest])
    keep = np.isin(labels, near[near > 0])
    if not keep.any():
        return AutoGrow(np.zeros(raw.shape, bool), center, 0.0, sd)
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    box = (slice(max(0, rows[0] - 1), rows[-1] + 2), slice(max(0, cols[0] - 1), cols[-1] + 2))
    local_seed = (seed[0] - box[0].start, seed[1] - box[1].start)
    best: np.ndarray | None = None
    best_tol, previous = 0.0, 0
    for tol in np.linspace(opts.k_low * sd, opts.k_high * sd, max(1, opts.steps)):
        grown = _cut(distance[box] <= tol, local_seed, spacing, opts.window_mm, opts)
        if grown is None:
            continue
        area = int(np.count_nonzero(grown))
        if best is not None and area > opts.jump * previous and _reaches_far(grown, best, spacing, opts):
            break  # a leak: keep the step before
        best, best_tol, previous = grown, float(tol), area
    mask = np.zeros(raw.shape, bool)
    if best is not None:
        mask[box] = best
    return AutoGrow(mask, center, best_tol, sd)


__all__ = ["AutoGrow", "AutoGrowOptions", "auto_grow_slice", "neighbourhood_stats"]
