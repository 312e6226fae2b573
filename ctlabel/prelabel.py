"""Classical CT pre-labels: body outline, lungs, bone and gas from HU thresholds and morphology.

No model is downloaded: each structure is a HU threshold, in-plane morphology and connected
components (scipy), so a pre-label runs offline in seconds. The results are a starting point
that the annotator corrects. Methods, parameters and measured figures: ``docs/prelabel.md``.

Every mask function takes a HU volume in (slice, row, column) order and its spacing in mm and
returns a boolean mask; in-plane steps run over slabs of slices, so the working memory stays a
small multiple of the volume.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from ctlabel.errors import InputError, StateError
from ctlabel.prelabel_grid import (
    _FACES,
    _SQUARE,
    _area_px,
    _box_op,
    _components,
    _full,
    _inner,
    _label,
    _px,
    _refined,
    _setup,
    _slabs,
    _square_filter,
    fill_holes_2d,
)

#: Default parameters of each method; the provenance records the values used. ``WorkMM``: the
#: in-plane pixel size the decisions are made at (thin-slice CT is subsampled to it, and the
#: result is refined at full resolution by the method's threshold).
BODY = {"ThresholdHU": -500.0, "OpeningMM": 4.0, "MinAreaMM2": 500.0, "KeepFraction": 0.05, "WorkMM": 2.0}
LUNGS = {"ThresholdHU": -400.0, "SurfaceMM": 6.0, "MinVolumeML": 5.0, "MedianHURange": [-920.0, -650.0],
         "MaxHoleMM2": 400.0, "BridgeMM": 1.5, "WorkMM": 2.0}
BONE = {"LowHU": 110.0, "HighHU": 400.0, "ClosingMM": 3.0, "MinAreaMM2": 20.0, "WorkMM": 2.0}
AIR = {"ThresholdHU": -500.0, "SurfaceMM": 6.0, "MinVolumeML": 0.1, "WorkMM": 2.0}

#: structure -> label names looked for in labels.tsv, in order (a tuple = a right/left pair).
ALIASES: dict[str, tuple] = {
    "body": ("body", "body_outline", "skin"),
    "lungs": (("lung_right", "lung_left"), "lung", "lungs"),
    "bone": ("bone", "bones", "skeleton", "vertebrae"),
    "air": ("air", "gas", "bowel_gas"),
}
STRUCTURES = tuple(ALIASES)
PRELABEL_STRUCTURES = STRUCTURES  #: the name in the package root (``ctlabel.PRELABEL_STRUCTURES``)
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


def method_record(structure: str, **overrides) -> dict:
    """The provenance of one pre-label: ``{"Kind": "automatic", "Name": ..., "Parameters": {...}}``."""
    params = {"body": BODY, "lungs": LUNGS, "bone": BONE, "air": AIR}[structure]
    return {"Kind": "automatic", "Name": f"ctlabel.prelabel.{structure}",
            "Parameters": {**params, **overrides}}


def resolve_labels(table, structures, path=None) -> dict[str, tuple[int, ...]]:
    """The label values each structure goes to, by name in the label table (see :data:`ALIASES`).

    Raises
    ------
    InputError
        An unknown structure, or one with no label in the table (the message names it).
    """
    by_name = {lab.name.lower(): lab.index for lab in table}
    out: dict[str, tuple[int, ...]] = {}
    for s in structures:
        if s not in ALIASES:
            raise InputError(f"unknown structure {s!r}; choose from {', '.join(STRUCTURES)}", path)
        for names in ALIASES[s]:
            names = names if isinstance(names, tuple) else (names,)
            if all(n in by_name for n in names):
                out[s] = tuple(by_name[n] for n in names)
                break
        else:
            looked = ", ".join("+".join(n) if isinstance(n, tuple) else n for n in ALIASES[s])
            raise InputError(f"no label for structure {s!r} in the label table (looked for {looked}); "
                             "add one to labels.tsv", path)
    return out


def require_empty_targets(labels: np.ndarray, targets: dict[str, tuple[int, ...]], table, path=None) -> None:
    """Refuse to pre-label over an annotator's work: every target label must still be empty.

    Raises
    ------
    InputError
        A target label already holds voxels (the message names them).
    """
    wanted = sorted({v for vals in targets.values() for v in vals})
    busy = [v for v in wanted if np.any(labels == v)]
    if busy:
        names = ", ".join(f"{table[v].name if v in table else 'label'} ({v})" for v in busy)
        raise InputError(f"label(s) {names} already hold voxels; prelabel only fills empty labels "
                         "and never paints over an annotator's work", path)


def prelabel_volume(hu: np.ndarray, spacing, targets: dict[str, tuple[int, ...]], labels: np.ndarray,
                    *, left_is_high_column: bool = True,
                    progress: Callable[[float, str], None] | None = None) -> dict[int, str]:
    """Write the pre-labels of ``targets`` into the empty (zero) voxels of ``labels``, in place.

    Lungs, gas and bone go first; the body label takes the rest of the outline. A lung pair
    ``(right, left)`` is split by :func:`split_left_right` at the body's midline. The methods
    run on the working grid of :data:`BODY` ``WorkMM`` and are written slab by slab, so no
    full-resolution mask is held. ``progress(fraction, step)`` is called as the steps start
    (from the calling thread) and with 1.0 at the end.

    Returns
    -------
    dict of int to str
        Label value -> structure, for the labels written.
    """
    steps = ["body outline", *(["lungs"] if {"lungs", "air"} & set(targets) else []),
             *(["gas"] if "air" in targets else []), *(["bone"] if "bone" in targets else []),
             *(["body"] if "body" in targets else [])]

    def step(name: str) -> None:
        if progress is not None:
            progress(steps.index(name) / len(steps) if name in steps else 1.0, name)

    step("body outline")
    f, hc, sc, _ = _setup(hu, spacing, BODY["WorkMM"])
    body = _body(hc, sc, BODY)
    written: dict[int, str] = {}

    def put(mc: np.ndarray, value: int, structure: str, keep) -> None:
        for sl, m in _refined(mc, hu, f, keep):
            part = labels[sl]
            np.copyto(part, value, where=m & (part == 0), casting="unsafe")
        written[value] = structure

    lungs = None
    if {"lungs", "air"} & set(targets):
        step("lungs")
        inner = _inner(body, sc, LUNGS["SurfaceMM"])
        lungs = _lungs(hc, sc, inner, LUNGS)
    if "lungs" in targets:
        vals, below = targets["lungs"], (lambda h: h < LUNGS["ThresholdHU"])
        if len(vals) == 2:
            cols = body.sum(axis=(0, 1))
            sides = split_left_right(lungs, float((cols * np.arange(cols.size)).sum() / max(cols.sum(), 1)))
            right, left = vals
            for side, value in zip((1, 2), (right, left) if left_is_high_column else (left, right), strict=True):
                put(sides == side, value, "lungs", below)
            del sides
        else:
            put(lungs, vals[0], "lungs", below)
    if "air" in targets:
        step("gas")
        if AIR["SurfaceMM"] != LUNGS["SurfaceMM"]:
            inner = _inner(body, sc, AIR["SurfaceMM"])
        put(_air(hc, sc, inner, lungs, AIR), targets["air"][0], "air", lambda h: h < AIR["ThresholdHU"])
    inner = lungs = None
    if "bone" in targets:
        step("bone")
        put(_bone(hc, sc, body, BONE), targets["bone"][0], "bone", lambda h: h > BONE["LowHU"])
    if "body" in targets:
        step("body")
        put(body, targets["body"][0], "body", lambda h: h > BODY["ThresholdHU"])
    step("done")
    return written


def prelabel_case(case, structures, who: str | None = None, *, lock=None) -> dict:
    """Pre-label a case's draft with classical segmentations, only into labels that are still empty.

    Parameters
    ----------
    case : ctlabel.case.folder.Case
        The case.
    structures : sequence of str
        Among ``body``, ``lungs``, ``bone``, ``air``.
    who : str, optional
        Who runs it (default: the login name).
    lock : ctlabel.case.lock.CaseLock, optional
        The caller's case lock (otherwise taken for the run).

    Returns
    -------
    dict
        ``{"labels": {value: {"name", "structure", "voxels"}}, "draft": path}``.

    Raises
    ------
    InputError
        A structure has no label in the table, or a target label already holds voxels.
    StateError
        The case awaits review.
    """
    from ctlabel.case import record as case_record
    from ctlabel.case import review, workflow
    from ctlabel.case.lock import acquire_lock
    from ctlabel.io.provenance import event

    who = (who or getpass.getuser() or "unknown").strip()
    table = case.load_labels()
    structures = list(dict.fromkeys(s.strip().lower() for s in structures if s.strip()))
    if not structures:
        raise InputError("no structure given; choose from " + ", ".join(STRUCTURES))
    targets = resolve_labels(table, structures, case.labels_path)
    own = lock is None
    held = acquire_lock(case.root, who) if own else lock
    try:
        if case_record.state_of(case) == workflow.SUBMITTED:
            raise StateError("the case is submitted and awaits review; it cannot be pre-labelled", case.root)
        base = case.latest_mask()
        grid = case.image_grid()
        wanted = sorted({v for vals in targets.values() for v in vals})
        labels = np.zeros(grid.shape, np.uint8 if max(wanted) <= 255 else np.uint16)
        if base is not None:
            require_empty_targets(base.array, targets, table, base.path)
            labels = base.array.astype(np.promote_types(base.array.dtype, labels.dtype))
        vol = case.load_image()
        written = prelabel_volume(vol.array, vol.spacing, targets, labels,
                                  left_is_high_column=bool(vol.affine[0, 0] < 0))
        del vol
        prov = base.provenance if base is not None else {}
        methods = base.methods if base is not None else {}
        methods.update({v: method_record(s) for v, s in written.items()})
        ev = event(who, "annotator", "painted", "draft", Tool="ctlabel prelabel",
                   Labels=[table[v].name for v in written])
        record = review.save_draft(
            case, labels, grid, who, lock=held,
            painted=base.painted if base is not None else None,
            interpolated=base.interpolated if base is not None else None,
            axis=base.axis if base is not None else 0,
            annotator=prov.get("Annotator") or who,
            events=[*prov.get("Events", []), ev],
            methods=methods,
        )
    finally:
        if own:
            held.release()
    counts = {v: int(np.count_nonzero(labels == v)) for v in written}
    return {"draft": str(case.draft_path), "voxel_sha256": record["VoxelSHA256"],
            "labels": {v: {"name": table[v].name, "structure": written[v], "voxels": counts[v]} for v in written}}


__all__ = ["AIR", "ALIASES", "BODY", "BONE", "LUNGS", "STRUCTURES", "air_mask", "body_mask", "bone_mask",
           "PRELABEL_STRUCTURES", "fill_holes_2d", "lung_mask", "method_record", "prelabel_case", "prelabel_volume",
           "require_empty_targets", "resolve_labels", "split_left_right"]
