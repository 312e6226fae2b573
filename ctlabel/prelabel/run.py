"""Classical CT pre-labels: body outline, lungs, bone and gas from HU thresholds and morphology.

No model is downloaded: each structure is a HU threshold, in-plane morphology and connected
components (scipy), so a pre-label runs offline in seconds. The results are a starting point
that the annotator corrects. Methods, parameters and measured figures: ``docs/prelabel.md``.

The methods (a HU volume in, a boolean mask out) are :mod:`ctlabel.prelabel.methods`, re-exported
here; this module puts them into a label volume (:func:`prelabel_volume`) and a case's draft
(:func:`prelabel_case`), only into labels that are still empty.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

import numpy as np

from ctlabel.errors import InputError, StateError
from ctlabel.model import SliceEdits
from ctlabel.prelabel.clean import clean_label
from ctlabel.prelabel.grid import _inner, _refined, _setup, fill_holes_2d
from ctlabel.prelabel.methods import (
    AIR,
    BODY,
    BONE,
    LUNGS,
    _air,
    _body,
    _bone,
    _lungs,
    air_mask,
    body_mask,
    bone_mask,
    lung_mask,
    split_left_right,
)

#: structure -> label names looked for in labels.tsv, in order (a tuple = a right/left pair).
ALIASES: dict[str, tuple] = {
    "body": ("body", "body_outline", "skin"),
    "lungs": (("lung_right", "lung_left"), "lung", "lungs"),
    "bone": ("bone", "bones", "skeleton"),  # never vertebrae: the pre-label holds ribs, pelvis, every bone
    "air": ("air", "gas", "bowel_gas"),
}
STRUCTURES = tuple(ALIASES)
#: structure -> its method's parameters (the provenance records them).
PARAMETERS: dict[str, dict[str, Any]] = {"body": BODY, "lungs": LUNGS, "bone": BONE, "air": AIR}
PRELABEL_STRUCTURES = STRUCTURES  #: the former name in the package root (``Prelabeler.STRUCTURES`` since)


def method_record(structure: str, **overrides) -> dict:
    """The provenance of one pre-label: ``{"Kind": "automatic", "Name": ..., "Parameters": {...}}``."""
    params: dict[str, Any] = PARAMETERS[structure]
    return {"Kind": "automatic", "Name": f"ctlabel.prelabel.{structure}",
            "Parameters": {**params, **overrides}}


def _target(by_name: dict[str, int], structure: str) -> tuple[int, ...] | None:
    for names in ALIASES[structure]:
        names = names if isinstance(names, tuple) else (names,)
        if all(n in by_name for n in names):
            return tuple(by_name[n] for n in names)
    return None


def structures_for(table) -> tuple[str, ...]:
    """The structures that have a label in ``table`` (found by name, see :data:`ALIASES`), in order.

    What the CLI and the viewer offer: a structure without a label is not offered.

    Parameters
    ----------
    table : LabelTable
        The case's label table.

    Returns
    -------
    tuple of str
        A subset of :data:`STRUCTURES`.
    """
    by_name = {lab.name.lower(): lab.index for lab in table}
    return tuple(s for s in STRUCTURES if _target(by_name, s) is not None)


def resolve_labels(table, structures, path=None) -> dict[str, tuple[int, ...]]:
    """The label values each structure goes to, by name in the label table (see :data:`ALIASES`).

    Raises
    ------
    InputError
        An unknown structure, or one with no label in the table: the message names the
        structure, the names looked for and the structures the table offers.
    """
    by_name = {lab.name.lower(): lab.index for lab in table}
    out: dict[str, tuple[int, ...]] = {}
    for s in structures:
        if s not in ALIASES:
            raise InputError(f"unknown structure {s!r}; choose from {', '.join(STRUCTURES)}", path)
        found = _target(by_name, s)
        if found is None:
            looked = ", ".join("+".join(n) if isinstance(n, tuple) else n for n in ALIASES[s])
            why = (" (vertebrae is not bone: the bone pre-label holds every bone, ribs and pelvis included)"
                   if s == "bone" and "vertebrae" in by_name else "")
            offered = ", ".join(structures_for(table)) or "none"
            name = next(n for n in ALIASES[s] if isinstance(n, str))
            raise InputError(f"no {name!r} label for structure {s!r} in the label table (looked for "
                             f"{looked}){why}; add one to labels.tsv (this table offers: {offered})", path)
        out[s] = found
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
        p = PARAMETERS[structure]
        clean_label(labels, value, spacing, p["MinIslandMM3"], p.get("MaxHoleMM2"))
        written[value] = structure

    inner: np.ndarray | None
    lungs = None
    if {"lungs", "air"} & set(targets):
        step("lungs")
        inner = _inner(body, sc, LUNGS["SurfaceMM"])
        lungs = _lungs(hc, sc, inner, LUNGS)
    if "lungs" in targets:
        assert lungs is not None  # found in the step above
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
        prov = base.provenance if base is not None else None
        methods = base.methods if base is not None else {}
        methods.update({v: method_record(s) for v, s in written.items()})
        ev = event(who, "annotator", "painted", "draft", Tool="ctlabel prelabel",
                   Labels=[table[v].name for v in written])
        record = review.save_draft(
            case, labels, grid, who, lock=held,
            edits=base.edits if base is not None else SliceEdits(),
            annotator=(prov.annotator if prov is not None else None) or who,
            events=[*(e.to_dict() for e in (prov.events if prov is not None else ())), ev],
            methods=methods,
        )
    finally:
        if own:
            held.release()
    counts = {v: int(np.count_nonzero(labels == v)) for v in written}
    return {"draft": str(case.draft_path), "voxel_sha256": record.voxel_sha256,
            "labels": {v: {"name": table[v].name, "structure": written[v], "voxels": counts[v]} for v in written}}


__all__ = ["AIR", "ALIASES", "BODY", "BONE", "LUNGS", "STRUCTURES", "air_mask", "body_mask", "bone_mask",
           "PRELABEL_STRUCTURES", "fill_holes_2d", "lung_mask", "method_record", "prelabel_case", "prelabel_volume",
           "require_empty_targets", "resolve_labels", "split_left_right", "structures_for"]
