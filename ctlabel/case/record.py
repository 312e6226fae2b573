"""The case record (``case.json``): its events, the hash chain and the version names.

Every event records who (id and role), when (UTC), what, on which version, the voxel
hash of that version and the SHA-256 of the previous event, so that
:func:`ctlabel.case.verify.verify_case` can tell when a version file or the event log
was changed outside ctlabel. Every change of the record happens under the case lock
(taken by the caller) and is written atomically by :func:`append_event`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ctlabel.case.folder import Case
from ctlabel.case.lock import lock_holder
from ctlabel.case.workflow import RESULT, STATES
from ctlabel.errors import ProvenanceError
from ctlabel.io.atomic import write_json
from ctlabel.io.jsonfile import read_json_object, require_types, type_name
from ctlabel.io.mask import Mask
from ctlabel.io.provenance import SCHEMA_VERSION, read_mask_sidecar, sidecar_path
from ctlabel.model import Action, CaseRecord, CaseState, Event, MaskProvenance

_VERSION_NAME = re.compile(r"^v(\d{3,})$")
_TEXT = (str, type(None))
#: The types of the fields of ``case.json`` that ctlabel reads (others ride along unchecked).
_RECORD_TYPES = {"SchemaVersion": (str,), "ImageVoxelSHA256": _TEXT, "HeadEventSHA256": _TEXT,
                 "ApprovedVersion": _TEXT}
_EVENT_TYPES = {"Who": (str,), "Role": (str,), "When": (str,), "Action": (str,), "Version": _TEXT,
                "VoxelSHA256": _TEXT, "PreviousEventSHA256": _TEXT, "NewImageVoxelSHA256": _TEXT,
                "Files": (dict, type(None)), "Reads": (list, type(None)), "Creates": (bool,),
                "CorrectedFrom": _TEXT, "FromVersion": _TEXT}


def version_name(number: int) -> str:
    """The folder name of version ``number``: ``v001``, ``v002``... (at least three digits).

    Parameters
    ----------
    number : int
        The version number, from 1.

    Returns
    -------
    str
    """
    return f"v{number:03d}"


def version_number(name: str) -> int | None:
    """The number of a version name (``v012`` -> 12), or None when ``name`` is not one.

    Parameters
    ----------
    name : str
        A version name, or anything.

    Returns
    -------
    int or None
    """
    m = _VERSION_NAME.match(name or "")
    return int(m.group(1)) if m else None


def event_hash(ev: dict) -> str:
    """SHA-256 of an event's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(record: CaseRecord) -> str:
    """The 'previous event' hash of the first event: the image voxel hash."""
    return record.image_voxel_sha256 or "0" * 64


def load_case_record(case: Case) -> CaseRecord:
    """Read ``case.json`` into a :class:`CaseRecord`; a case without one gets a fresh in-progress record.

    Parameters
    ----------
    case : Case
        The case.

    Returns
    -------
    CaseRecord
        As read (``to_dict()`` gives the file's JSON back, in order); a fresh one is not written.

    Raises
    ------
    ProvenanceError
        The record is unreadable or invalid (names the file and what is wrong).
    """
    path = case.record_path
    if not path.exists():
        img = case.image_record() if case.image_sidecar.exists() else {}
        return CaseRecord(CaseState.IN_PROGRESS, (), img.get("VoxelSHA256"), SCHEMA_VERSION)
    try:
        record = read_json_object(path, "the case record")
    except FileNotFoundError:
        raise ProvenanceError("the case record vanished while it was read", path) from None
    if not isinstance(record.get("Events"), list):
        raise ProvenanceError("the case record lacks an Events list", path)
    if not isinstance(record.get("State"), str) or record["State"] not in STATES:
        raise ProvenanceError(f"the case record has an unknown State {record.get('State')!r}", path)
    require_types(record, _RECORD_TYPES, "the case record", path)
    for i, ev in enumerate(record["Events"]):
        if not isinstance(ev, dict):
            raise ProvenanceError(f"event {i} is {type_name(ev)}, not an object", path)
        require_types(ev, _EVENT_TYPES, f"event {i}", path)
        for rel, digest in (ev.get("Files") or {}).items():
            if not isinstance(digest, (str, type(None))):
                raise ProvenanceError(f"event {i}: Files[{rel!r}] is {type_name(digest)}, not a string", path)
        if not all(isinstance(r, str) for r in ev.get("Reads") or []):
            raise ProvenanceError(f"event {i}: Reads must list version names", path)
    try:
        return CaseRecord.from_dict(record)  # every event: who, a known role and action
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProvenanceError(f"the case record is not valid: {exc}", path) from None


def load_record(case: Case) -> dict:
    """``case.json`` as JSON (:func:`load_case_record`'s ``to_dict()``), the form ``ctlabel.load_record`` gives."""
    return load_case_record(case).to_dict()


def state_of(case: Case) -> str:
    """The review state of a case (``in_progress``, ``submitted``, ``approved``, ``rejected``).

    Parameters
    ----------
    case : Case
        The case.

    Returns
    -------
    str

    Raises
    ------
    ProvenanceError
        The case record is unreadable or invalid.
    """
    return str(load_case_record(case).state)


@dataclass
class Status:
    """A summary of a case's review state."""

    case: str
    state: str
    versions: list[str]
    latest: str | None
    approved_version: str | None
    comment: str | None
    has_draft: bool
    locked_by: str | None
    events: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def status(case: Case) -> Status:
    """A summary of a case's review state: versions, draft, lock holder, last comment.

    Parameters
    ----------
    case : Case
        The case.

    Returns
    -------
    Status

    Raises
    ------
    ProvenanceError
        The case record is unreadable or invalid.
    """
    rec = load_case_record(case)
    versions = [version_name(n) for n in case.versions()]
    holder = lock_holder(case.root)
    return Status(
        case=str(case.root), state=str(rec.state), versions=versions,
        latest=versions[-1] if versions else None,
        approved_version=rec.approved_version, comment=rec.comment,
        has_draft=case.draft_path.exists(),
        locked_by=holder.describe() if holder else None, events=len(rec.events),
    )


#: ``append_event``'s summary fields left as they are.
KEEP: Any = object()


def append_event(case: Case, record: CaseRecord, ev: Event | dict, *, approved_version: str | None = KEEP,
                 comment: str | None = KEEP) -> CaseRecord:
    """Chain ``ev`` to the record, set the resulting state and summary fields, write atomically.

    The event vouches for the files it concerns (their hashes go into ``Files``, so into
    the chain), and the new chain head is also logged beside the case folder
    (:mod:`ctlabel.case.integrity`).

    Parameters
    ----------
    case : Case
        The case (its lock held by the caller).
    record : CaseRecord
        The record as read under that lock.
    ev : Event or dict
        The event (a dict: its stored form, as :func:`ctlabel.io.provenance.event` builds it).
    approved_version : str or None, optional
        ``ApprovedVersion`` from now on (None: no approved version); left as it is by default.
    comment : str or None, optional
        ``Comment`` from now on (None: removed); left as it is by default.

    Returns
    -------
    CaseRecord
        The record as written; its last event is ``ev`` with ``Files`` and ``PreviousEventSHA256``.
    """
    from ctlabel.case.integrity import append_head, vouched_files

    ev = ev if isinstance(ev, Event) else Event.from_dict(ev)
    chained = dict(ev.extra)
    files = vouched_files(case, ev)
    if files:
        chained["Files"] = files
    chained["PreviousEventSHA256"] = event_hash(record.events[-1].to_dict()) if record.events else genesis_hash(record)
    ev = replace(ev, extra=chained)
    extra = dict(record.extra)
    if comment is not KEEP:  # Comment before ApprovedVersion: a rejection writes both, in this order
        if comment is None:
            extra.pop("Comment", None)
        else:
            extra["Comment"] = comment
    if approved_version is not KEEP:
        extra["ApprovedVersion"] = approved_version
    extra["HeadEventSHA256"] = event_hash(ev.to_dict())
    new = replace(record, state=RESULT.get(ev.action) or record.state, events=(*record.events, ev), extra=extra)
    write_json(case.record_path, new.to_dict())
    append_head(case, extra["HeadEventSHA256"], len(new.events))
    return new


def version_event(record: CaseRecord, name: str) -> Event | None:
    """The event that created version ``name`` (submitted, corrected, imported or read)."""
    return next((ev for ev in record.events if ev.version == name and ev.creates and ev.action in (
        Action.SUBMITTED, Action.CORRECTED, Action.IMPORTED, Action.READ)), None)


def reads_under_review(record: CaseRecord) -> list[str]:
    """The versions of a reading by N readers awaiting review (the ``Reads`` of the standing submission), else []."""
    last = record.last(Action.SUBMITTED, Action.WITHDRAWN, Action.APPROVED, Action.REJECTED)
    if last is None or last.action is not Action.SUBMITTED or record.state is not CaseState.SUBMITTED:
        return []
    return list(last.reads)


def slice_sources(mask: Mask) -> dict[int, dict[str, list[int]]]:
    """Per slice (along the mask's slice axis): the labels painted and interpolated there."""
    out: dict[int, dict[str, list[int]]] = {}
    for kind, per_label in (("painted", mask.painted), ("interpolated", mask.interpolated)):
        for lab, ks in per_label.items():
            for k in ks:
                out.setdefault(int(k), {"painted": [], "interpolated": []})[kind].append(int(lab))
    return dict(sorted(out.items()))


def describe_event(ev: Event | Mapping) -> str:
    """One line for a person: when, who (role), what, on which version, and the comment.

    ``ev`` is an :class:`Event` or its stored form (an item of :func:`history`).
    """
    ev = ev if isinstance(ev, Event) else Event.from_dict(ev)
    text = f"{ev.when}  {ev.who} ({ev.role}) {ev.action}" + (f" {ev.version}" if ev.version else "")
    for key in ("CorrectedFrom", "FromVersion"):
        if ev.extra.get(key):
            text += f" from {ev.extra[key]}"
    if ev.extra.get("Source"):
        text += f" from {Path(str(ev.extra['Source'])).name}"
    if ev.comment:
        text += f": {ev.comment}"
    return text


def version_provenance(case: Case, number: int) -> MaskProvenance:
    """The provenance sidecar of frozen version ``number`` of a case.

    Parameters
    ----------
    case : Case
        The case.
    number : int
        The version number.

    Returns
    -------
    MaskProvenance
        The sidecar as read.
    """
    return read_mask_sidecar(sidecar_path(case.version_path(number)))


def history(case: Case) -> list[dict]:
    """The events of the case record, in their stored form (copies)."""
    return copy.deepcopy([ev.to_dict() for ev in load_case_record(case).events])


__all__ = [
    "KEEP", "Status", "append_event", "describe_event", "event_hash", "genesis_hash", "history", "load_case_record",
    "load_record", "reads_under_review",
    "slice_sources", "state_of", "status", "version_event", "version_name", "version_number", "version_provenance",
]
