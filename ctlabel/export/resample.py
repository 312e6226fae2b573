"""Resampling a tilted (sheared) case onto the orthonormal grid, for export only.

A case keeps its acquired, sheared grid (docs/conventions.md); a training framework
that reads the qform, or reorients through ITK, would misplace its voxels. With
``--resample-tilted`` the export puts image and mask on the grid of
:func:`ctlabel.geometry.orthonormal_affine`: same rows and columns, slices
perpendicular to the slice plane at the median slice spacing. Each target slice
lies at a distance along the normal; its source position between two acquired
slices is found from the slices' real positions (``Source.Slices[k]
.ImagePositionPatient``; the affine for a padded slice), so uneven spacing is
resampled too. The image is interpolated linearly (trilinear), the mask by
nearest neighbour, with :mod:`scipy.ndimage`. Voxels outside the acquired slab
are air (-1024 HU) and background.
"""

from __future__ import annotations

import numpy as np

from ctlabel.geometry import orthonormal_affine

AIR_HU = -1024


def slice_origins(affine: np.ndarray, n_slices: int, source: dict | None) -> np.ndarray:
    """RAS position of voxel (0, 0, k) of every slice: the recorded ImagePositionPatient, else the affine."""
    a = np.asarray(affine, dtype=np.float64)
    origins = np.array([a[:3, 3] + k * a[:3, 2] for k in range(n_slices)])
    slices = (source or {}).get("Slices") or []
    if len(slices) == n_slices:
        for k, s in enumerate(slices):
            if s and s.get("ImagePositionPatient") is not None:
                lps = np.asarray(s["ImagePositionPatient"], dtype=np.float64)
                origins[k] = (-lps[0], -lps[1], lps[2])
    return origins


def resample_orthonormal(image: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                         source: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Put a sheared image and its mask on the orthonormal grid.

    Parameters
    ----------
    image, mask : numpy.ndarray
        (slice, row, column) arrays on ``affine``.
    affine : numpy.ndarray
        The sheared on-disk affine (sform) of the case.
    source : dict, optional
        The image sidecar's ``Source`` (its slice positions are used when present).

    Returns
    -------
    image, mask : numpy.ndarray
        Resampled arrays (image in the input dtype, rounded for integers).
    affine : numpy.ndarray
        The orthonormal affine.
    info : dict
        What was done, for the manifest.
    """
    from scipy import ndimage

    a = np.asarray(affine, dtype=np.float64)
    n_src, rows, cols = image.shape
    new_affine = orthonormal_affine(a)
    origins = slice_origins(a, n_src, source)
    normal = new_affine[:3, 2] / np.linalg.norm(new_affine[:3, 2])
    spacing = float(np.linalg.norm(new_affine[:3, 2]))
    pos = (origins - origins[0]) @ normal
    if n_src > 1 and np.any(np.diff(pos) <= 0):
        order = np.argsort(pos)
        origins, image, mask = origins[order], image[order], mask[order]
        pos = (origins - origins[0]) @ normal
    n_new = int(round((pos[-1] - pos[0]) / spacing)) + 1 if n_src > 1 else 1
    new_affine[:3, 3] = origins[0]
    col, row = a[:3, 0], a[:3, 1]
    out_img = np.empty((n_new, rows, cols), dtype=image.dtype)
    out_mask = np.zeros((n_new, rows, cols), dtype=mask.dtype)
    fill = AIR_HU if np.issubdtype(image.dtype, np.signedinteger) or image.dtype.kind == "f" else 0
    idx = np.arange(n_src, dtype=np.float64)
    for k in range(n_new):
        f = float(np.interp(k * spacing, pos, idx))
        k0 = min(int(np.floor(f)), n_src - 1)
        k1 = min(k0 + 1, n_src - 1)
        w = f - k0
        origin = origins[k0] * (1 - w) + origins[k1] * w
        t = origin - new_affine[:3, 3] - (k * spacing) * normal  # in-plane offset of the source slab here
        shift = ((t @ row) / (row @ row), (t @ col) / (col @ col))  # output[x] = input[x - shift]
        lo = ndimage.shift(image[k0].astype(np.float32), shift, order=1, mode="constant", cval=fill)
        if w > 0 and k1 != k0:
            hi = ndimage.shift(image[k1].astype(np.float32), shift, order=1, mode="constant", cval=fill)
            lo = lo * (1 - w) + hi * w
        out_img[k] = np.rint(lo) if image.dtype.kind in "iu" else lo
        nearest = k1 if w >= 0.5 else k0
        out_mask[k] = ndimage.shift(mask[nearest], shift, order=0, mode="constant", cval=0)
    info = {
        "Reason": "gantry tilt: the acquired grid is sheared",
        "Image": "linear (scipy.ndimage)",
        "Mask": "nearest neighbour (scipy.ndimage)",
        "SourceAffine": np.round(a, 6).tolist(),
        "Affine": np.round(new_affine, 6).tolist(),
        "SourceShape": [int(cols), int(rows), int(n_src)],
        "Shape": [int(cols), int(rows), int(n_new)],
        "SliceSpacingMM": round(spacing, 6),
    }
    return out_img, out_mask, new_affine, info


__all__ = ["resample_orthonormal", "slice_origins"]
