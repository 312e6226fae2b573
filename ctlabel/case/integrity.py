"""Tamper evidence that covers the whole case: vouched files, derived summaries, an outside chain head.

Every event appended to ``case.json`` records, under ``Files``, the SHA-256 of the files it
vouches for: the label table, the image sidecar and, for an event about a version, that
version's mask and sidecar. The record's summary fields (``State``, ``ApprovedVersion``,
``Comment``) must be what the events say. And the chain head is also appended to
``.ctlabel-heads.jsonl`` in the folder that holds the case folders (:mod:`ctlabel.case.heads`,
each line chained to the one before), so that a case record rolled back to an earlier copy no
longer matches it. ``docs/review.md`` says what this can
and cannot prove.

Records written before this (events without ``Files``) still verify, under the rules they
were written with: only the events that vouch for files are checked against them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ctlabel.case import heads
from ctlabel.case.heads import HEADS_LOG
from ctlabel.model import Action, CaseRecord, Event

if TYPE_CHECKING:
    from ctlabel.case.folder import Case

_VERSION_ACTIONS = (Action.SUBMITTED, Action.CORRECTED, Action.IMPORTED, Action.APPROVED, Action.REJECTED, Action.READ,
                    Action.WITHDRAWN, Action.ACCEPTED)


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def vouched_files(case: Case, ev: Event) -> dict[str, str | None]:
    """The files an event vouches for, by path relative to the case folder, with their hashes now."""
    from ctlabel.io.provenance import sidecar_path

    paths = [case.labels_path, case.image_sidecar]
    version = ev.version or ""
    if version.startswith("v") and version[1:].isdigit() and ev.action in _VERSION_ACTIONS:
        mask = case.version_path(int(version[1:]))
        paths += [mask, sidecar_path(mask)]
    return {p.relative_to(case.root).as_posix(): file_sha256(p) for p in paths}


def derived_summary(events: Sequence[Event]) -> tuple[str | None, str | None]:
    """``ApprovedVersion`` and ``Comment`` as the events set them (the transitions of ``review``)."""
    approved, comment = None, None
    for ev in events:
        if ev.action is Action.APPROVED:
            approved, comment = ev.version, None
        elif ev.action is Action.REJECTED:
            approved, comment = None, ev.comment
        elif ev.action is Action.SUBMITTED:
            approved, comment = None, None
        elif ev.action in (Action.CORRECTED, Action.IMPORTED):
            approved = None
    return approved, comment


def append_head(case: Case, head: str, count: int) -> None:
    """Append the case's new chain head to the heads log beside it (best effort, append-only, chained)."""
    from ctlabel.io.provenance import now_utc

    heads.append_head(case.root.parent, case.root.name, head, count, now_utc())


def logged_heads(case: Case) -> list[dict] | None:
    """The well-formed heads log entries of this case, oldest first; None when there is no log."""
    log = heads.read_heads(case.root.parent, case.root.name)
    return None if log is None else log.entries


@dataclass
class IntegrityProblem:
    """One finding: level (error/warning), what it is about, the message and the file."""

    level: str
    what: str
    message: str
    path: str


def check_integrity(case: Case, record: CaseRecord, event_hash) -> list[IntegrityProblem]:
    """Vouched files, summary fields and the outside chain head of a case record.

    Parameters
    ----------
    case : Case
        The case.
    record : CaseRecord
        Its ``case.json``.
    event_hash : callable
        The chain's event hash (``ctlabel.case.record.event_hash``).
    """
    out: list[IntegrityProblem] = []
    events = record.events
    # 1. every file as the last event that vouched for it saw it
    expected: dict[str, tuple[str | None, int, Event]] = {}
    for i, ev in enumerate(events):
        for rel, digest in ev.files.items():
            expected[rel] = (digest, i, ev)
    for rel, (digest, i, ev) in sorted(expected.items()):
        path = case.root / rel
        now = file_sha256(path)
        if now != digest:
            how = "is missing" if now is None else "was changed"
            out.append(IntegrityProblem("error", "file", f"{rel} {how} after event {i} ({ev.action} "
                                        f"by {ev.who} at {ev.when}) vouched for it", str(path)))
    # 2. the summary fields are what the events say
    if events:
        approved, comment = derived_summary(events)
        for key, now, value in (("ApprovedVersion", record.approved_version, approved),
                                ("Comment", record.comment, comment)):
            if now != value:
                out.append(IntegrityProblem("error", "record", f"{key} is {now!r} but the events say "
                                            f"{value!r}", str(case.record_path)))
    # 3. rollback: the chain head kept outside the case folder
    log = heads.read_heads(case.root.parent, case.root.name)
    if log is None:
        if events:
            out.append(IntegrityProblem("warning", "rollback", f"rollback not checkable: no {HEADS_LOG} beside "
                                        "the case folder", str(case.root.parent / HEADS_LOG)))
        return out
    out += [IntegrityProblem("warning", "heads log", p, str(log.path)) for p in log.problems]
    if events and not log.entries:
        out.append(IntegrityProblem("warning", "rollback", f"rollback not checkable: {HEADS_LOG} has no line for "
                                    f"this case's {len(events)} event(s) (emptied, replaced, or the case was "
                                    "written elsewhere)", str(log.path)))
    if log.entries:
        # the count only grows: the longest record the log saw, not its last line (a line can be forged)
        last = max(log.entries, key=lambda e: e["Events"])
        n = last["Events"]
        if n > len(events):
            out.append(IntegrityProblem("error", "rollback", f"the case record holds {len(events)} events but "
                                        f"{HEADS_LOG} recorded {n} at {last.get('When')}: it was rolled back or cut",
                                        str(case.record_path)))
        elif n and event_hash(events[n - 1].to_dict()) != last.get("HeadEventSHA256"):
            out.append(IntegrityProblem("error", "rollback", f"event {n - 1} is not the head {HEADS_LOG} recorded "
                                        "for it: the record was rewritten", str(case.record_path)))
    return out


def expected_image_hash(record: CaseRecord) -> str | None:
    """The image voxel hash a case record vouches for: the last ``image_replaced`` event's, else the first."""
    replaced = record.last(Action.IMAGE_REPLACED)
    return record.image_voxel_sha256 if replaced is None else replaced.new_image_voxel_sha256


__all__ = ["HEADS_LOG", "IntegrityProblem", "append_head", "check_integrity", "derived_summary",
           "expected_image_hash", "file_sha256", "logged_heads", "vouched_files"]
