"""HU-aware painting: region growing from a clicked voxel, and strokes limited to a HU range.

Both return a boolean preview; the caller (the viewer, a script) applies it to the labels, so
that the tool itself never writes a mask. Arrays are (slice, row, column), HU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy import ndimage as ndi

from ctlabel.errors import InputError
from ctlabel.painting.region_grow_auto import AutoGrowOptions, auto_grow_slice


def _seed_index(seed, shape: tuple[int, ...]) -> tuple[int, int, int]:
    idx = tuple(int(v) for v in seed)
    if len(idx) != 3 or any(not 0 <= v < n for v, n in zip(idx, shape, strict=True)):
        raise InputError(f"seed {tuple(seed)} is outside the volume of shape {shape}")
    return idx


def grow_box(seed, shape: tuple[int, ...], spacing=(1.0, 1.0, 1.0), *, mode: str = "2d",
             half_size_mm: float | tuple[float, float, float] | None = None) -> tuple[slice, slice, slice]:
    """The region a grow may reach: the seed's slice (2D) or a box around the seed (3D).

    Parameters
    ----------
    seed : sequence of int
        (slice, row, column).
    shape : tuple of int
        Volume shape.
    spacing : sequence of float
        (slice, row, column) mm.
    mode : {"2d", "3d"}
        The slice only, or a box.
    half_size_mm : float or tuple of float, optional
        Half-size of the box (3D) or of the in-plane window (2D); default: the whole slice
        (2D) or 50 mm (3D).

    Returns
    -------
    tuple of slice
    """
    if mode not in ("2d", "3d"):
        raise InputError(f"region grow mode must be '2d' or '3d', not {mode!r}")
    z, r, c = _seed_index(seed, shape)
    if half_size_mm is None and mode == "2d":
        return (slice(z, z + 1), slice(0, shape[1]), slice(0, shape[2]))
    half = np.broadcast_to(np.asarray(50.0 if half_size_mm is None else half_size_mm, float), (3,))
    n = [int(np.ceil(h / float(s))) for h, s in zip(half, spacing, strict=True)]
    box = [slice(max(0, v - k), min(size, v + k + 1)) for v, k, size in zip((z, r, c), n, shape, strict=True)]
    if mode == "2d":
        box[0] = slice(z, z + 1)
    return cast("tuple[slice, slice, slice]", tuple(box))


def reference_hu(image: np.ndarray, seed, *, radius: int = 0, mode: str = "2d") -> float:
    """The HU a grow compares with: the seed voxel's, or the mean of its neighbourhood.

    Parameters
    ----------
    image : numpy.ndarray
        (slice, row, column) HU.
    seed : sequence of int
        (slice, row, column).
    radius : int
        Half-width in voxels of the neighbourhood (in-plane for 2D, a cube for 3D); 0 = the seed.
    mode : {"2d", "3d"}

    Returns
    -------
    float
    """
    z, r, c = _seed_index(seed, image.shape)
    rz = radius if mode == "3d" else 0
    patch = image[max(0, z - rz):z + rz + 1, max(0, r - radius):r + radius + 1, max(0, c - radius):c + radius + 1]
    return float(patch.mean())


@dataclass(frozen=True)
class GrowOptions:
    """How :func:`region_grow` grows, beyond the tolerance and the box.

    Attributes
    ----------
    radius : int
        Neighbourhood of the reference (0: the seed voxel alone; 2: the mean of its 5x5 in-plane
        neighbourhood, or 5x5x5 in 3D), which steadies the reference against noise.
    connectivity : int
        1 (faces) to ``ndim`` (corners), as in :func:`scipy.ndimage.generate_binary_structure`.
    fill_holes : bool
        Fill the holes of the grown region on each slice (noise, calcifications, vessels).
    """

    radius: int = 2
    connectivity: int = 1
    fill_holes: bool = True


def region_grow(image: np.ndarray, seed, tolerance_hu: float | None = None, *, spacing=(1.0, 1.0, 1.0),
                mode: str = "2d", half_size_mm: float | tuple[float, float, float] | None = None,
                options: GrowOptions | None = None) -> np.ndarray:
    """The voxels connected to ``seed`` whose HU lies within a range around the click.

    Parameters
    ----------
    image : numpy.ndarray
        (slice, row, column) HU.
    seed : sequence of int
        The clicked voxel, (slice, row, column).
    tolerance_hu : float, optional
        Maximum absolute difference from :func:`reference_hu` (a fixed ± HU range). ``None``
        (the default): the range comes from the click's neighbourhood and the grow is cut at
        thin bridges to neighbouring tissue (:func:`ctlabel.painting.region_grow_auto.auto_grow_slice`);
        in 3D the range chosen on the seed's slice is grown through the box.
    spacing : sequence of float
        (slice, row, column) mm, for the box size.
    mode : {"2d", "3d"}
        Grow on the seed's slice, or in a box around the seed (:func:`grow_box`).
    half_size_mm : float or tuple of float, optional
        See :func:`grow_box`.
    options : GrowOptions, optional
        With a fixed tolerance: the reference's neighbourhood, the connectivity and hole filling
        (default: ``GrowOptions()``).

    Returns
    -------
    numpy.ndarray of bool
        The preview, in the shape of ``image``; empty when the seed itself is out of tolerance.
    """
    if tolerance_hu is not None and tolerance_hu < 0:
        raise InputError(f"the HU tolerance must not be negative, not {tolerance_hu}")
    seed = _seed_index(seed, image.shape)
    box = grow_box(seed, image.shape, spacing, mode=mode, half_size_mm=half_size_mm)
    if tolerance_hu is None:
        return _grow_adaptive(image, seed, box, spacing, three_d=mode == "3d")
    opts = options if options is not None else GrowOptions()
    radius, connectivity, fill_holes = opts.radius, opts.connectivity, opts.fill_holes
    ref = reference_hu(image, seed, radius=radius, mode=mode)
    region = image[box]
    within = np.abs(region.astype(np.float32) - np.float32(ref)) <= tolerance_hu
    local = tuple(s - b.start for s, b in zip(seed, box, strict=True))
    out = np.zeros(image.shape, bool)
    if not within[local]:
        return out
    if mode == "2d":
        lab, _ = ndi.label(within[0], ndi.generate_binary_structure(2, min(connectivity, 2)))
        grown = (lab == lab[local[1:]])[None]
    else:
        lab, _ = ndi.label(within, ndi.generate_binary_structure(3, connectivity))
        grown = lab == lab[local]
    if fill_holes:
        grown = np.stack([ndi.binary_fill_holes(s) for s in grown])
    out[box] = grown
    return out


def _grow_adaptive(image: np.ndarray, seed: tuple[int, int, int], box: tuple[slice, slice, slice], spacing, *,
                   three_d: bool) -> np.ndarray:
    """:func:`region_grow` without a tolerance: the range and the cut of the seed's slice."""
    z, r, c = seed
    in_plane = (float(spacing[1]), float(spacing[2]))
    local = (r - box[1].start, c - box[2].start)
    grown = auto_grow_slice(image[z, box[1], box[2]], local, in_plane)
    out = np.zeros(image.shape, bool)
    if not three_d:
        out[z, box[1], box[2]] = grown.mask
        return out
    if not grown.mask.any():
        return out
    # 3D: the range chosen on the seed's slice, on the box smoothed in-plane as the slice was
    sigma = [0.0] + [AutoGrowOptions().smooth_mm / s for s in in_plane]
    region = ndi.gaussian_filter(image[box].astype(np.float32), sigma)
    within = np.abs(region - np.float32(grown.center_hu)) <= grown.tolerance_hu
    within[z - box[0].start] = grown.mask  # the seed's slice as grown (cut at its bridges)
    lab, _ = ndi.label(within, ndi.generate_binary_structure(3, 1))
    comp = lab == lab[z - box[0].start, r - box[1].start, c - box[2].start]
    out[box] = np.stack([ndi.binary_fill_holes(s) for s in comp])
    return out


def hu_range_mask(labels_change, image: np.ndarray, lo: float, hi: float):
    """Restrict a paint stroke to the voxels whose HU lies in ``[lo, hi]``.

    Parameters
    ----------
    labels_change : numpy.ndarray of bool or tuple of index arrays
        The voxels the stroke would change: a mask in the shape of ``image``, or
        (slice, row, column) index arrays as in a paint event.
    image : numpy.ndarray
        (slice, row, column) HU.
    lo, hi : float
        The HU range, inclusive.

    Returns
    -------
    numpy.ndarray of bool or tuple of numpy.ndarray
        The same form as ``labels_change``, keeping only the voxels inside the range.
    """
    if lo > hi:
        raise InputError(f"the HU range is empty ({lo} > {hi})")
    if isinstance(labels_change, tuple):
        idx = tuple(np.asarray(i) for i in labels_change)
        hu = image[idx]
        keep = (hu >= lo) & (hu <= hi)
        return tuple(i[keep] for i in idx)
    change = np.asarray(labels_change, bool)
    if change.shape != image.shape:
        raise InputError(f"the stroke mask {change.shape} is not the image's shape {image.shape}")
    return change & (image >= lo) & (image <= hi)


__all__ = ["GrowOptions", "grow_box", "hu_range_mask", "reference_hu", "region_grow"]
