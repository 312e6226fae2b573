"""DICOM geometry: slice order, spacing, irregularities and the NIfTI affine.

Pure functions on header values; no file access. The policy for irregular
series is documented in ``docs/conventions.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

#: LPS (DICOM) to RAS (NIfTI) for homogeneous coordinates.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Two slices closer than this along the normal share a position (mm).
DUPLICATE_TOLERANCE_MM = 0.01
#: Gaps that differ from the median by more than this are non-uniform (mm or fraction).
SPACING_TOLERANCE_MM = 0.01
SPACING_TOLERANCE_FRACTION = 0.01
#: A step that leans off the normal by more than this is gantry tilt (degrees).
TILT_TOLERANCE_DEG = 0.05


#: Orientation vectors within this of unit length and of orthogonal (|dot|) are used as they are.
ORIENTATION_TOLERANCE = 1e-4
#: Within this they are orthonormalised with a warning; beyond it the file is refused.
ORIENTATION_LOOSE_TOLERANCE = 1e-2


def check_orientation(orientation) -> tuple[tuple[float, ...], str | None]:
    """Validate ImageOrientationPatient; return it (orthonormalised if need be) and a warning.

    Parameters
    ----------
    orientation : sequence of 6 float
        Row direction, then column direction (LPS).

    Returns
    -------
    tuple
        The six values to use, and None or an ``orientation_corrected: ...`` warning.

    Raises
    ------
    ValueError
        A value is not finite, a vector is not of unit length or the two are not orthogonal
        within :data:`ORIENTATION_LOOSE_TOLERANCE`, or they are parallel.
    """
    iop = np.asarray(orientation, dtype=np.float64).reshape(6)
    if not np.isfinite(iop).all():
        raise ValueError("ImageOrientationPatient holds a value that is not finite")
    r, c = iop[:3], iop[3:]
    lengths = np.array([np.linalg.norm(r), np.linalg.norm(c)])
    dot = float(abs(r @ c))
    off = max(float(np.max(np.abs(lengths - 1.0))), dot)
    if off <= ORIENTATION_TOLERANCE:
        return tuple(float(v) for v in iop), None
    if np.linalg.norm(np.cross(r, c)) < 1e-6 * max(1e-12, lengths.prod()):
        raise ValueError("ImageOrientationPatient has parallel or zero row and column vectors")
    if off > ORIENTATION_LOOSE_TOLERANCE:
        raise ValueError(f"ImageOrientationPatient is not orthonormal (lengths {lengths[0]:.4g} and "
                         f"{lengths[1]:.4g}, dot product {dot:.4g}); ctlabel will not guess the slice plane")
    r = r / lengths[0]
    c = c - (c @ r) * r
    c = c / np.linalg.norm(c)
    return tuple(float(v) for v in (*r, *c)), (
        f"orientation_corrected: ImageOrientationPatient was {off:.2g} off orthonormal; orthonormalised")


def slice_normal(orientation: ArrayLike) -> np.ndarray:
    """Unit normal (LPS) of a slice from its ImageOrientationPatient.

    Examples
    --------
    >>> slice_normal([1, 0, 0, 0, 1, 0]).tolist()  # an axial slice: the normal points to the head
    [0.0, 0.0, 1.0]
    """
    iop = np.asarray(orientation, dtype=np.float64)
    n = np.cross(iop[:3], iop[3:6])
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        raise ValueError("ImageOrientationPatient has parallel row and column vectors")
    return n / norm


@dataclass
class StackGeometry:
    """What the slice positions of a stack say about its geometry.

    Attributes
    ----------
    order : numpy.ndarray
        Indices that sort the input slices by position along the normal.
    positions_mm : numpy.ndarray
        Sorted positions along the normal.
    step_lps : numpy.ndarray
        The vector (LPS, mm) from one slice origin to the next, used in the affine.
    spacing_mm : float
        Distance between slice planes used in the affine.
    warnings : list of str
        ``code: detail`` strings for duplicated positions, missing slices,
        non-uniform spacing and gantry tilt.
    duplicates : list of tuple
        Pairs of sorted indices that share a position.
    """

    order: np.ndarray
    positions_mm: np.ndarray
    step_lps: np.ndarray
    spacing_mm: float
    warnings: list[str] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    tilt_deg: float = 0.0

    @property
    def uniform(self) -> bool:
        codes = {w.split(":", 1)[0] for w in self.warnings}
        return not codes & {"non_uniform_spacing", "missing_slices", "duplicate_positions"}


def analyze_stack(
    positions: ArrayLike,
    orientation: ArrayLike,
    slice_thickness: float | None = None,
) -> StackGeometry:
    """Order slices along the normal and find the spacing and irregularities.

    Parameters
    ----------
    positions : array of shape (n, 3)
        ImagePositionPatient of each slice, LPS mm.
    orientation : array of shape (6,)
        ImageOrientationPatient shared by the slices.
    slice_thickness : float, optional
        Used as the spacing of a single slice.

    Returns
    -------
    StackGeometry
    """
    ipp = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    normal = slice_normal(orientation)
    d = ipp @ normal
    order = np.argsort(d, kind="stable")
    d_sorted = d[order]
    ipp_sorted = ipp[order]
    warnings: list[str] = []
    duplicates: list[tuple[int, int]] = []
    n = len(d_sorted)
    if n < 2:
        if slice_thickness and slice_thickness > 0:
            return StackGeometry(order, d_sorted, normal * float(slice_thickness), float(slice_thickness))
        return StackGeometry(order, d_sorted, normal, 1.0,
                             ["no_slice_thickness: a single image without SliceThickness; 1 mm assumed"])

    gaps = np.diff(d_sorted)
    dup = gaps < DUPLICATE_TOLERANCE_MM
    for i in np.flatnonzero(dup):
        duplicates.append((int(i), int(i + 1)))
    if dup.any():
        warnings.append(
            f"duplicate_positions: {int(dup.sum())} slice(s) share a position with another"
        )
    real_gaps = gaps[~dup]
    if real_gaps.size == 0:
        thick = float(slice_thickness) if slice_thickness and slice_thickness > 0 else 1.0
        return StackGeometry(order, d_sorted, normal * thick, thick, warnings, duplicates)

    spacing = float(np.median(real_gaps))
    tol = max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION * spacing)
    off = np.abs(real_gaps - spacing) > tol
    if off.any():
        multiples = real_gaps[off] / spacing
        near_int = np.abs(multiples - np.round(multiples)) * spacing <= tol
        if np.all(near_int) and np.all(np.round(multiples) >= 2):
            missing = int(np.sum(np.round(multiples) - 1))
            warnings.append(
                f"missing_slices: about {missing} slice(s) missing from a {spacing:.4g} mm grid"
            )
        else:
            acquired = d_sorted[np.r_[True, ~dup]]
            drift = float(np.max(np.abs(acquired - acquired[0] - spacing * np.arange(acquired.size))))
            warnings.append(
                "non_uniform_spacing: slice gaps range from "
                f"{real_gaps.min():.4g} to {real_gaps.max():.4g} mm (median {spacing:.4g} mm); on the affine's"
                f" uniform grid slices lie up to {drift:.3g} mm from their acquired positions (each acquired"
                " position is kept in SlicePositionsMM); splitting the series into runs of one spacing keeps"
                " every slice exact"
            )

    # Direction of travel per mm along the normal; its lateral part is gantry tilt.
    span = d_sorted[-1] - d_sorted[0]
    travel = (ipp_sorted[-1] - ipp_sorted[0]) / span
    tilt = float(np.degrees(np.arccos(min(1.0, float(1.0 / np.linalg.norm(travel))))))
    if tilt > TILT_TOLERANCE_DEG:
        warnings.append(
            f"gantry_tilt: slices are stacked {tilt:.2f} deg off the slice normal;"
            " the sform holds the sheared grid exactly, the qform an orthonormal approximation"
        )
    else:
        travel = normal
        tilt = 0.0
    return StackGeometry(order, d_sorted, travel * spacing, spacing, warnings, duplicates, tilt)


def dicom_affine(
    orientation: ArrayLike,
    first_position: ArrayLike,
    pixel_spacing: tuple[float, float],
    step_lps: ArrayLike,
) -> np.ndarray:
    """NIfTI RAS affine for voxel index (i=column, j=row, k=slice).

    Parameters
    ----------
    orientation : array of shape (6,)
        ImageOrientationPatient: direction of increasing column, then of increasing row.
    first_position : array of shape (3,)
        ImagePositionPatient of slice 0 (LPS).
    pixel_spacing : (float, float)
        PixelSpacing: (between rows, between columns) in mm.
    step_lps : array of shape (3,)
        Vector from slice k to slice k+1 (LPS).
    """
    iop = np.asarray(orientation, dtype=np.float64)
    lps = np.eye(4)
    lps[:3, 0] = iop[:3] * float(pixel_spacing[1])
    lps[:3, 1] = iop[3:6] * float(pixel_spacing[0])
    lps[:3, 2] = np.asarray(step_lps, dtype=np.float64)
    lps[:3, 3] = np.asarray(first_position, dtype=np.float64)
    return LPS_TO_RAS @ lps


def orthonormal_affine(affine: np.ndarray) -> np.ndarray:
    """The affine with its slice column replaced by the normal times the slice spacing.

    This is what a qform (and ITK) can hold for a sheared, gantry-tilted grid.
    """
    a = np.array(affine, dtype=np.float64)
    normal = np.cross(a[:3, 0], a[:3, 1])
    normal /= np.linalg.norm(normal)
    a[:3, 2] = normal * (a[:3, 2] @ normal)
    return a


def is_sheared(affine: np.ndarray, tol: float = 1e-4) -> bool:
    """True when the slice column of the affine is not perpendicular to the slice plane.

    Examples
    --------
    >>> import numpy as np
    >>> tilted = np.eye(4)
    >>> tilted[1, 2] = 0.3  # each slice shifted 0.3 mm along y: a gantry tilt
    >>> is_sheared(np.eye(4)), is_sheared(tilted)
    (False, True)
    """
    return not np.allclose(orthonormal_affine(affine), affine, atol=tol)
