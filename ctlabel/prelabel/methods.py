"""The classical pre-label methods: HU volume and spacing in, a boolean mask out.

Each structure is a HU threshold, in-plane morphology and connected components (scipy); no
model is downloaded. Every mask function takes a HU volume in (slice, row, column) order and
its spacing in mm and returns a boolean mask; in-plane steps run over slabs of slices, so the
working memory stays a small multiple of the volume. Methods, parameters and measured figures:
``docs/prelabel.md``. Putting the masks into a case's labels is :mod:`ctlabel.prelabel.run`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ctlabel.prelabel.grid import (
    _FACES,
    _SQUARE,
    _area_px,
    _box_op,
    _components,
    _full,
    _inner,
    _label,
    _px,
    _setup,
    _slabs,
    _square_filter,
    fill_holes_2d,
)

#: Default parameters of each method; the provenance records the values used. ``WorkMM``: the
#: in-plane pixel size the decisions are made at (thin-slice CT is subsampled to it, and the
#: result is refined at full resolution by the method's threshold). ``MinIslandMM3`` and
#: ``MaxHoleMM2`` are the cleaning of the written label (:mod:`ctlabel.prelabel.clean`): pieces
#: below ``MinIslandMM3`` apart from the largest are dropped (the default of ``ctlabel qa
#: --min-island-mm3``), and enclosed background of at most ``MaxHoleMM2`` per slice is filled
#: (all of it for body and bone).
BODY = {"ThresholdHU": -500.0, "OpeningMM": 4.0, "MinAreaMM2": 500.0, "KeepFraction": 0.05, "WorkMM": 2.0,
        "MinIslandMM3": 50.0}
LUNGS: dict[str, Any] = {"ThresholdHU": -400.0, "SurfaceMM": 6.0, "MinVolumeML": 5.0,
                         "MedianHURange": [-920.0, -650.0],
                         "MaxHoleMM2": 400.0, "BridgeMM": 1.5, "WorkMM": 2.0, "MinIslandMM3": 50.0}
BONE = {"LowHU": 110.0, "HighHU": 400.0, "ClosingMM": 3.0, "MinAreaMM2": 20.0, "WorkMM": 2.0,
        "MinIslandMM3": 50.0}
AIR = {"ThresholdHU": -500.0, "SurfaceMM": 6.0, "MinVolumeML": 0.1, "WorkMM": 2.0, "MinIslandMM3": 50.0,
       "MaxHoleMM2": 400.0}


def _body(hu, spacing, p) -> np.ndarray:
    half = _px(p["OpeningMM"], spacing)
    min_px = _area_px(p["MinAreaMM2"], spacing)
    out = np.empty(hu.shape, bool)
    for sl in _slabs(hu.shape[0]):
        m = hu[sl] > p["ThresholdHU"]
        m = _square_filter(_square_filter(m, half, ndi.minimum_filter), half, ndi.maximum_filter)
        lab, n = _label(m, _SQUARE)
        area = np.bincount(lab.ravel(), minlength=n + 1)
        z = np.array([o[0].start for o in ndi.find_objects(lab)], dtype=int)
        largest = np.zeros(m.shape[0])
        np.maximum.at(largest, z, area[1:])
        keep = np.zeros(n + 1, bool)
        keep[1:] = (area[1:] >= min_px) & (area[1:] >= p["KeepFraction"] * largest[z])
        out[sl] = keep[lab]
    return fill_holes_2d(out)


def _lungs(hu, spacing, inner, p) -> np.ndarray:
    cand = inner & (hu < p["ThresholdHU"])
    # components are judged eroded by BridgeMM, so that a thin partial-volume bridge through the
    # diaphragm does not join a lung to the stomach gas below it; the rim is grown back after
    counts = [int(round(p["BridgeMM"] / float(s))) for s in spacing]
    core = _components(_box_op(cand, counts, False), hu, spacing, p["MinVolumeML"], p["MedianHURange"])
    lungs = _box_op(core, counts, True)
    lungs &= cand
    return fill_holes_2d(lungs, _area_px(p["MaxHoleMM2"], spacing))


def _air(hu, spacing, inner, lungs, p) -> np.ndarray:
    cand = inner & (hu < p["ThresholdHU"])
    cand &= ~lungs
    return _components(cand, hu, spacing, p["MinVolumeML"])


def _bone(hu, spacing, body, p) -> np.ndarray:
    half = _px(p["ClosingMM"], spacing)
    min_px = _area_px(p["MinAreaMM2"], spacing)
    out = np.empty(hu.shape, bool)
    for sl in _slabs(hu.shape[0]):
        h = hu[sl]
        lab, n = _label((h > p["LowHU"]) & body[sl], _SQUARE)
        keep = np.zeros(n + 1, bool)
        keep[lab[h > p["HighHU"]]] = True  # hysteresis: the component reaches cortical HU
        keep &= np.bincount(lab.ravel(), minlength=n + 1) >= min_px
        keep[0] = False
        m = keep[lab]
        out[sl] = _square_filter(_square_filter(m, half, ndi.maximum_filter), half, ndi.minimum_filter)
    return fill_holes_2d(out)


# --- public: HU volume + spacing -> full-resolution masks --------------------------------------
def body_mask(hu: np.ndarray, spacing, **params) -> np.ndarray:
    """The patient outline without the table: threshold, in-plane opening, large components, holes filled.

    Parameters
    ----------
    hu : numpy.ndarray
        (slice, row, column) HU.
    spacing : sequence of float
        (slice, row, column) mm.
    **params
        Overrides of :data:`BODY`: ``ThresholdHU`` (tissue is above it), ``OpeningMM``
        (half-width of the square opening that cuts the thin table and cushions off),
        ``MinAreaMM2`` and ``KeepFraction`` (the components kept on a slice are at least this
        area and this fraction of its largest), ``WorkMM``.

    Returns
    -------
    numpy.ndarray of bool
    """
    p = {**BODY, **params}
    f, hc, sc, _ = _setup(hu, spacing, p["WorkMM"])
    return _full(_body(hc, sc, p), hu, f, lambda h: h > p["ThresholdHU"])


def lung_mask(hu: np.ndarray, spacing, body: np.ndarray | None = None, **params) -> np.ndarray:
    """The lungs: air inside the body in large 3D components whose median HU is lung parenchyma.

    Bowel and stomach gas (median below ``MedianHURange[0]``) and partial volume at
    interfaces (median above ``MedianHURange[1]``) are left out; vessels inside the lungs
    (holes of at most ``MaxHoleMM2`` per slice) are filled in.

    Parameters
    ----------
    hu : numpy.ndarray
        (slice, row, column) HU.
    spacing : sequence of float
        (slice, row, column) mm.
    body : numpy.ndarray of bool, optional
        :func:`body_mask` (computed when not given).
    **params
        Overrides of :data:`LUNGS` (see ``docs/prelabel.md``).

    Returns
    -------
    numpy.ndarray of bool
    """
    p = {**LUNGS, **params}
    f, hc, sc, (bc,) = _setup(hu, spacing, p["WorkMM"], body)
    bc = _body(hc, sc, BODY) if bc is None else bc
    return _full(_lungs(hc, sc, _inner(bc, sc, p["SurfaceMM"]), p), hu, f, lambda h: h < p["ThresholdHU"])


def split_left_right(mask: np.ndarray, midline: float | None = None, *, cross_fraction: float = 0.1) -> np.ndarray:
    """Split a paired organ into its two sides: 1 = lower column indices, 2 = higher.

    Each 3D component goes to the side of its centroid; a component of which more than
    ``cross_fraction`` lies across the ``midline`` column (the two sides touch) is cut there.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        (slice, row, column).
    midline : float, optional
        Column of the sagittal cut (default: the mask's centroid column).
    cross_fraction : float
        Fraction of a component beyond the midline that makes it a merged pair.

    Returns
    -------
    numpy.ndarray of uint8
    """
    out = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return out
    cols = np.arange(mask.shape[2])
    if midline is None:
        midline = float((mask.sum(axis=(0, 1)) * cols).sum() / mask.sum())
    lab, _ = _label(mask, _FACES)
    for i, box in enumerate(ndi.find_objects(lab), 1):
        comp = lab[box] == i
        low_cols = (cols[box[2]] < midline)[None, None, :]
        low = np.count_nonzero(comp & low_cols)
        if min(low, comp.sum() - low) > cross_fraction * comp.sum():
            out[box][comp] = np.where(np.broadcast_to(low_cols, comp.shape)[comp], 1, 2)
        else:
            out[box][comp] = 1 if 2 * low > comp.sum() else 2
    return out


def bone_mask(hu: np.ndarray, spacing, body: np.ndarray | None = None, **params) -> np.ndarray:
    """Cortical and trabecular bone: hysteresis threshold per slice, closing, holes filled.

    Voxels above ``LowHU`` inside the body are kept where their in-plane component reaches
    ``HighHU`` (cortex) and covers at least ``MinAreaMM2``; a closing (``ClosingMM``) and the
    filling of each slice's holes add the marrow.

    Parameters
    ----------
    hu : numpy.ndarray
        (slice, row, column) HU.
    spacing : sequence of float
        (slice, row, column) mm.
    body : numpy.ndarray of bool, optional
        :func:`body_mask` (computed when not given).
    **params
        Overrides of :data:`BONE`.

    Returns
    -------
    numpy.ndarray of bool
    """
    p = {**BONE, **params}
    f, hc, sc, (bc,) = _setup(hu, spacing, p["WorkMM"], body)
    bc = _body(hc, sc, BODY) if bc is None else bc
    return _full(_bone(hc, sc, bc, p), hu, f, lambda h: h > p["LowHU"])


def air_mask(hu: np.ndarray, spacing, body: np.ndarray | None = None, lungs: np.ndarray | None = None,
             **params) -> np.ndarray:
    """Gas inside the body outside the lungs: bowel and stomach gas (and the airways when in view).

    Gas is below ``ThresholdHU``, deeper than ``SurfaceMM`` under the skin, in 3D components
    of at least ``MinVolumeML``.

    Parameters
    ----------
    hu : numpy.ndarray
        (slice, row, column) HU.
    spacing : sequence of float
        (slice, row, column) mm.
    body, lungs : numpy.ndarray of bool, optional
        :func:`body_mask` and :func:`lung_mask` (computed when not given).
    **params
        Overrides of :data:`AIR`.

    Returns
    -------
    numpy.ndarray of bool
    """
    p = {**AIR, **params}
    f, hc, sc, (bc, lc) = _setup(hu, spacing, p["WorkMM"], body, lungs)
    bc = _body(hc, sc, BODY) if bc is None else bc
    lc = _lungs(hc, sc, _inner(bc, sc, LUNGS["SurfaceMM"]), LUNGS) if lc is None else lc
    return _full(_air(hc, sc, _inner(bc, sc, p["SurfaceMM"]), lc, p), hu, f, lambda h: h < p["ThresholdHU"])


__all__ = ["AIR", "BODY", "BONE", "LUNGS", "air_mask", "body_mask", "bone_mask", "lung_mask", "split_left_right"]
