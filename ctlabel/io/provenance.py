"""Provenance records: the JSON sidecar beside every ctlabel image and mask.

The schema is documented in ``docs/provenance.md`` and shipped as
``ctlabel/io/provenance.schema.json``. Records hold UIDs and pixel hashes, never
patient identifiers. :func:`validate` checks a record on write and on read.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np

from ctlabel.errors import ProvenanceError
from ctlabel.io.jsonfile import read_json_object, require_types
from ctlabel.model import Action, Event, MaskProvenance, Role, SliceEdits
from ctlabel.volume import SourceIdentity, spacing_from_affine

SCHEMA_VERSION = "1.0"
SOFTWARE_NAME = "ctlabel"

#: The roles and actions an event may name (the enums of :mod:`ctlabel.model`, as stored).
ROLES = tuple(str(r) for r in Role)
ACTIONS = tuple(str(a) for a in Action)


def now_utc() -> str:
    """Current UTC time, ISO 8601 with a ``Z`` suffix and milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def software() -> dict:
    """The ``GeneratedBy``-style record of this software: ``{"Name": "ctlabel", "Version": ...}``.

    Returns
    -------
    dict
    """
    from ctlabel._version import __version__

    return {"Name": SOFTWARE_NAME, "Version": __version__}


def event(who: str, role: str, action: str, version: str | None = None, **extra) -> dict:
    """One provenance event: who (id and role), when (UTC), what, on which version.

    Built and checked as a :class:`ctlabel.model.Event` (its ``to_dict`` is the stored form).
    """
    if role not in ROLES:
        raise ProvenanceError(f"role must be one of {ROLES}, not {role!r}")
    if action not in ACTIONS:
        raise ProvenanceError(f"action must be one of {ACTIONS}, not {action!r}")
    if not str(who).strip():
        raise ProvenanceError("an event needs who acted")
    return Event(str(who), Role(role), now_utc(), Action(action), version, extra).to_dict()


def pseudonymize_uid(uid: str, salt: str) -> str:
    """Replace a UID by a salted hash in the ``2.25.<integer>`` form (a valid UID)."""
    if not uid:
        return uid
    digest = hashlib.sha256(f"{salt}\0{uid}".encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def pseudonymize_source(source: SourceIdentity, salt: str) -> SourceIdentity:
    """A copy of ``source`` with every UID replaced by :func:`pseudonymize_uid`."""
    from dataclasses import replace

    return replace(
        source,
        study_uid=pseudonymize_uid(source.study_uid, salt),
        series_uid=pseudonymize_uid(source.series_uid, salt),
        frame_of_reference_uid=pseudonymize_uid(source.frame_of_reference_uid, salt),
        slices=tuple(None if s is None else replace(s, sop_instance_uid=pseudonymize_uid(s.sop_instance_uid, salt))
                     for s in source.slices),
    )


def geometry_record(shape_mem, affine, warnings=(), slice_positions=None, missing_slices=()) -> dict:
    """The geometry block: on-disk shape, affine, spacing, axis order, warnings and padded slices."""
    rec = {
        "Shape": [int(s) for s in tuple(shape_mem)[::-1]],
        "AxisOrder": ["column", "row", "slice"],
        "Affine": np.round(np.asarray(affine, float), 6).tolist(),
        "Spacing": [round(v, 6) for v in spacing_from_affine(affine)[::-1]],
        "Warnings": list(warnings),
    }
    if slice_positions is not None:
        rec["SlicePositionsMM"] = [round(float(v), 4) for v in slice_positions]
    if len(missing_slices):
        rec["MissingSlices"] = [int(k) for k in missing_slices]
    return rec


def labels_record(label_table, present, edits: SliceEdits, methods=None) -> dict:
    """Per label: name, colour, tissue, painted and interpolated slice indices (k, on disk), method.

    The one writer of ``Labels``. A label is listed when present or named by ``edits`` (one
    erased to nothing has ``Present: false``). ``methods`` maps a label to how it was made
    (``{"Kind": "manual" | "semiautomatic" | "automatic", "Name": ..., "Parameters": {...}}``);
    it is written for present labels only.
    """
    out = {}
    indices = sorted(set(present) | set(edits.painted) | set(edits.interpolated))
    for idx in indices:
        entry: dict = {}
        if label_table is not None and idx in label_table:
            lab = label_table[idx]
            entry.update({"Name": lab.name, "Abbreviation": lab.abbreviation,
                          "Color": lab.color, "Tissue": lab.tissue})
        entry["PaintedSlices"] = list(edits.painted.get(idx, ()))
        entry["InterpolatedSlices"] = list(edits.interpolated.get(idx, ()))
        entry["Present"] = idx in present
        if idx in present and (methods or {}).get(idx):
            entry["Method"] = dict(methods[idx])
        out[str(idx)] = entry
    return out


_SCHEMA_CACHE: dict | None = None
#: The types of the sidecar fields ctlabel reads back (others ride along unchecked).
_SIDECAR_TYPES = {"SchemaVersion": (str,), "Kind": (str,), "Events": (list,),
                  "Geometry": (dict,), "Source": (dict, type(None)), "Labels": (dict,), "SliceAxis": (str,),
                  "Sources": (list,), "ImageVoxelSHA256": (str, type(None))}
_GEOMETRY_TYPES = {"Warnings": (list,), "SlicePositionsMM": (list, type(None)), "MissingSlices": (list,),
                   "Shape": (list,), "Affine": (list,)}


def schema() -> dict:
    """The JSON Schema of a provenance record."""
    global _SCHEMA_CACHE
    if _SCHEMA_CACHE is None:
        _SCHEMA_CACHE = json.loads(
            resources.files("ctlabel.io").joinpath("provenance.schema.json").read_text(encoding="utf-8")
        )
    return _SCHEMA_CACHE


def validate(record: dict, path=None) -> None:
    """Check the required structure of a record; raise :class:`ProvenanceError` if wrong.

    A light check of what the schema requires; the test suite also validates
    sidecars against the full JSON Schema.
    """
    s = schema()
    for key in s["required"]:
        if key not in record:
            raise ProvenanceError(f"provenance lacks {key!r}", path)
    require_types(record, _SIDECAR_TYPES, "the provenance", path)
    for key in ("Events", "Sources"):
        if not all(isinstance(e, dict if key == "Events" else str) for e in record.get(key) or []):
            raise ProvenanceError(f"the provenance: every item of {key} must be "
                                  f"{'an object' if key == 'Events' else 'a string'}", path)
    if not all(isinstance(v, dict) for v in (record.get("Labels") or {}).values()):
        raise ProvenanceError("the provenance: every entry of Labels must be an object", path)
    geometry = record.get("Geometry")
    if isinstance(geometry, dict):
        require_types(geometry, _GEOMETRY_TYPES, "the provenance Geometry", path)
        items = {"Warnings": (str,), "MissingSlices": (int,), "SlicePositionsMM": (int, float)}
        for key, types in items.items():
            if not all(isinstance(v, types) and not isinstance(v, bool) for v in geometry.get(key) or []):
                raise ProvenanceError(f"the provenance Geometry: {key} holds a value of the wrong type", path)
    if record["SchemaVersion"].split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ProvenanceError(f"unsupported provenance schema {record['SchemaVersion']}", path)
    if record["Kind"] not in ("image", "mask"):
        raise ProvenanceError(f"provenance Kind {record['Kind']!r} is not image or mask", path)
    digest = record.get("VoxelSHA256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ProvenanceError("the voxel hash VoxelSHA256 is missing or not a SHA-256 hex digest", path)
    for ev in record.get("Events", []):
        for key in ("Who", "Role", "When", "Action"):
            if key not in ev:
                raise ProvenanceError(f"an event lacks {key!r}", path)


def read_sidecar(path: str | Path) -> dict:
    """Read and validate a JSON sidecar."""
    try:
        record = read_json_object(path, "the provenance sidecar")
    except FileNotFoundError:
        raise ProvenanceError("the provenance sidecar is missing", path) from None
    validate(record, path)
    return record


def read_mask_sidecar(path: str | Path) -> MaskProvenance:
    """Read and validate a mask's sidecar, as a :class:`~ctlabel.model.MaskProvenance`.

    Raises
    ------
    ProvenanceError
        The sidecar is missing, not valid, or not a mask's (the message names the file).
    """
    record = read_sidecar(path)
    try:
        return MaskProvenance.from_dict(record)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProvenanceError(f"the mask's provenance is not valid: {exc}", path) from None


def sidecar_path(nifti_path: str | os.PathLike) -> Path:
    """``x.nii.gz`` -> ``x.json`` (BIDS sidecar naming)."""
    p = Path(nifti_path)
    name = p.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return p.with_name(name[: -len(ext)] + ".json")
    return p.with_suffix(".json")
