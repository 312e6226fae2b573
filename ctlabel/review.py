"""The case record (``case.json``): review states, events, frozen versions and a hash chain.

States and the only transitions allowed (see ``docs/review.md``)::

    in_progress --submit--> submitted --approve--> approved
         ^                      |  \\--reject---> rejected
         |                      +--correct (reviewer; new version, stays submitted)
         +------ edit (new draft from the latest version) <-- approved / rejected

Every event records who (id and role), when (UTC), what, on which version, the
voxel hash of that version and the SHA-256 of the previous event, so that
:func:`verify_case` can tell when a version file or the event log was changed
outside ctlabel. Frozen versions (``masks/vNNN_dseg.nii.gz``) are never
rewritten. Every change of the record happens under the case lock and is written
atomically.
"""

from __future__ import annotations

import contextlib
import copy
import getpass
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ctlabel.atomic import write_json
from ctlabel.case import Case
from ctlabel.errors import CaseError, InputError, LockError, ProvenanceError, StateError
from ctlabel.lock import CaseLock, acquire_lock, lock_holder
from ctlabel.mask_io import Mask, edited_slices, load_mask, save_mask
from ctlabel.provenance import SCHEMA_VERSION, event, read_sidecar, sidecar_path
from ctlabel.review_qa import describe_finding, qa_gate, submission_qa
from ctlabel.volume import Grid, voxel_hash

IN_PROGRESS = "in_progress"
SUBMITTED = "submitted"
APPROVED = "approved"
REJECTED = "rejected"
STATES = (IN_PROGRESS, SUBMITTED, APPROVED, REJECTED)

#: action -> states it may start from (the resulting state is in ``_RESULT``).
ALLOWED_FROM = {
    "submitted": (IN_PROGRESS, REJECTED),
    "approved": (SUBMITTED,),
    "rejected": (SUBMITTED,),
    "corrected": (SUBMITTED, REJECTED, APPROVED),
    "imported": (IN_PROGRESS, REJECTED, APPROVED),
    "created": (IN_PROGRESS, REJECTED, APPROVED),
    "painted": (IN_PROGRESS,),
    "interpolated": (IN_PROGRESS,),
    "saved": (IN_PROGRESS,),
    "labels_changed": (IN_PROGRESS, REJECTED, APPROVED),
}
_RESULT = {
    "submitted": SUBMITTED,
    "approved": APPROVED,
    "rejected": REJECTED,
    "corrected": SUBMITTED,
    "imported": IN_PROGRESS,
    "created": IN_PROGRESS,
}
_VERSION_NAME = re.compile(r"^v(\d{3,})$")


def version_name(number: int) -> str:
    return f"v{number:03d}"


def version_number(name: str) -> int | None:
    m = _VERSION_NAME.match(name or "")
    return int(m.group(1)) if m else None


def event_hash(ev: dict) -> str:
    """SHA-256 of an event's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(record: dict) -> str:
    """The 'previous event' hash of the first event: the image voxel hash."""
    return record.get("ImageVoxelSHA256") or "0" * 64


# --------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------


def load_record(case: Case) -> dict:
    """Read ``case.json``; a case without one gets a fresh in-progress record (not written)."""
    path = case.record_path
    if not path.exists():
        img = case.image_record() if case.image_sidecar.exists() else {}
        return {"SchemaVersion": SCHEMA_VERSION, "State": IN_PROGRESS,
                "ImageVoxelSHA256": img.get("VoxelSHA256"), "Events": []}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProvenanceError(f"the case record is not readable JSON ({exc})", path) from None
    if not isinstance(record, dict) or not isinstance(record.get("Events"), list):
        raise ProvenanceError("the case record lacks an Events list", path)
    if record.get("State") not in STATES:
        raise ProvenanceError(f"the case record has an unknown State {record.get('State')!r}", path)
    return record


def state_of(case: Case) -> str:
    return load_record(case)["State"]


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
    rec = load_record(case)
    versions = [version_name(n) for n in case.versions()]
    holder = lock_holder(case.root)
    return Status(
        case=str(case.root), state=rec["State"], versions=versions,
        latest=versions[-1] if versions else None,
        approved_version=rec.get("ApprovedVersion"), comment=rec.get("Comment"),
        has_draft=case.draft_path.exists(),
        locked_by=holder.describe() if holder else None, events=len(rec["Events"]),
    )


def _append(case: Case, record: dict, ev: dict) -> dict:
    """Chain ``ev`` to the record, set the resulting state, write atomically.

    The event vouches for the files it concerns (their hashes go into ``Files``, so into
    the chain), and the new chain head is also logged beside the case folder
    (:mod:`ctlabel.case_integrity`).
    """
    from ctlabel.case_integrity import append_head, vouched_files

    events = record["Events"]
    files = vouched_files(case, ev)
    if files:
        ev["Files"] = files
    ev["PreviousEventSHA256"] = event_hash(events[-1]) if events else genesis_hash(record)
    events.append(ev)
    record["HeadEventSHA256"] = event_hash(ev)
    new_state = _RESULT.get(ev["Action"])
    if new_state:
        record["State"] = new_state
    write_json(case.record_path, record)
    append_head(case, record["HeadEventSHA256"], len(events))
    return ev


def _require(record: dict, action: str, path) -> None:
    state = record["State"]
    if state not in ALLOWED_FROM[action]:
        verb = {"approved": "approve", "rejected": "reject", "submitted": "submit", "corrected": "correct",
                "imported": "import into", "created": "start a new draft of"}.get(action, action)
        why = {
            ("approved", IN_PROGRESS): "it was never submitted (or is being edited again)",
            ("rejected", IN_PROGRESS): "it was never submitted (or is being edited again)",
            ("approved", APPROVED): "it is already approved",
            ("submitted", SUBMITTED): "it is already submitted and awaits review",
            ("submitted", APPROVED): "it is approved; a further edit makes a new draft first",
            ("imported", SUBMITTED): "it awaits review; approve or reject it first",
            ("created", SUBMITTED): "it awaits review; the reviewer corrects it, or rejects it first",
            ("corrected", IN_PROGRESS): "it was not submitted; the annotator is still editing it",
        }.get((action, state), f"that is not allowed from state {state!r}")
        raise StateError(f"cannot {verb} the case: it is {state}; {why}", path)


@contextlib.contextmanager
def _locked(case: Case, who: str, lock: CaseLock | None) -> Iterator[CaseLock]:
    """Hold the case lock for a change: the caller's lock, or take and release one."""
    if lock is not None:
        if lock.released:
            raise LockError("the case lock was released; open the case again", case.root)
        if Path(lock.path).resolve() != case.lock_path.resolve():
            raise LockError("the lock given is not this case's lock", case.root)
        holder = lock_holder(case.root)
        if holder is None or (holder.pid, holder.host) != (lock.info.pid, lock.info.host):
            raise LockError("the case lock was taken over by someone else"
                            + (f" ({holder.describe()})" if holder else ""), case.root)
        yield lock
        return
    own = acquire_lock(case.root, who)
    try:
        yield own
    finally:
        own.release()


def _who(who: str | None) -> str:
    who = (who or getpass.getuser() or "").strip()
    if not who:
        raise InputError("a user id is needed (who)")
    return who


def _next_version(case: Case) -> int:
    v = case.versions()
    return (v[-1] + 1) if v else 1


def _version_event(record: dict, name: str) -> dict | None:
    """The event that created version ``name`` (submitted/corrected/imported)."""
    for ev in record["Events"]:
        if ev.get("Version") == name and ev.get("Action") in ("submitted", "corrected", "imported") \
                and ev.get("Creates", True):
            return ev
    return None


def _freeze(case: Case, labels: np.ndarray, grid: Grid, base: dict, ev: dict, extra: dict) -> tuple[int, dict]:
    """Write a new frozen version with ``ev`` appended to the base provenance events."""
    n = _next_version(case)
    path = case.version_path(n)
    if path.exists() or sidecar_path(path).exists():
        raise CaseError("the version file exists already; versions are never overwritten", path)
    name = version_name(n)
    ev["Version"] = name
    img = case.image_record()
    prov_events = [dict(e) for e in base.get("Events", [])] + [dict(ev)]
    record = save_mask(
        path, labels, grid,
        source=base.get("Source") or img.get("Source"),
        label_table=case.load_labels(),
        painted=base.get("painted"), interpolated=base.get("interpolated"),
        axis=base.get("axis", 0),
        annotator=base.get("Annotator"),
        events=prov_events,
        created=base.get("Created"),
        image_voxel_sha256=img.get("VoxelSHA256"),
        extra={"Version": name, **extra},
        methods=base.get("methods"),
    )
    ev["VoxelSHA256"] = record["VoxelSHA256"]
    return n, record


def _mask_base(mask: Mask) -> dict:
    p = mask.provenance or {}
    return {"Events": p.get("Events", []), "Source": p.get("Source"), "painted": mask.painted,
            "interpolated": mask.interpolated, "axis": mask.axis, "Annotator": p.get("Annotator"),
            "Created": p.get("Created"), "methods": mask.methods}


# --------------------------------------------------------------------------
# Transitions
# --------------------------------------------------------------------------


def submit(case: Case, who: str | None = None, *, force: bool = False, lock: CaseLock | None = None) -> int:
    """Freeze the draft as a new version and mark the case submitted; return the version number.

    Without a draft, the latest version is submitted if it was imported and never submitted.

    Parameters
    ----------
    case : Case
        The case.
    who : str, optional
        The annotator (default: the login name).
    force : bool
        Submit although QA (:func:`ctlabel.review_qa.submission_qa`) finds errors; the submitted event
        then records ``Forced`` and the ``QAErrors``.
    lock : CaseLock, optional
        The caller's case lock (otherwise taken for the change).

    Raises
    ------
    StateError
        The case is not in progress or rejected, there is nothing to submit, or QA
        finds errors and ``force`` is False (the message lists them).
    """
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "submitted", case.record_path)
        draft = case.load_draft()
        if draft is not None:
            if draft.provenance and not draft.hash_matches:
                raise ProvenanceError("the draft voxels do not match their provenance sidecar (edited outside "
                                      "ctlabel?); import the file with 'ctlabel import' instead", draft.path)
            ev = event(who, "annotator", "submitted", None, **qa_gate(case, draft, force, draft.path))
            base = _mask_base(draft)
            base["Annotator"] = base["Annotator"] or who
            n, _ = _freeze(case, draft.array, draft.grid, base, ev, {"FrozenFrom": "draft", "Role": "annotator"})
            record.pop("Comment", None)
            record["ApprovedVersion"] = None
            _append(case, record, ev)
            for p in (case.draft_path, sidecar_path(case.draft_path)):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            return n
        versions = case.versions()
        if versions:
            name = version_name(versions[-1])
            last = [e for e in record["Events"] if e.get("Version") == name]
            if last and all(e["Action"] == "imported" for e in last):
                mask = case.load_version(versions[-1])
                _check_frozen(record, name, mask)
                gate = qa_gate(case, mask, force, mask.path)
                ev = event(who, "annotator", "submitted", name, VoxelSHA256=mask.voxel_hash, Creates=False, **gate)
                _append(case, record, ev)
                return versions[-1]
        raise StateError("nothing to submit: the case has no draft", case.draft_path)


def save_draft(case: Case, labels: np.ndarray, grid: Grid, who: str | None = None, *, role: str = "annotator",
               lock: CaseLock | None = None, **provenance) -> dict:
    """Save the case draft under the review rules; every editor's save goes through here.

    Refused while the case is submitted (it awaits review: the reviewer corrects
    or rejects it). Saving an approved or rejected case starts a new draft (the
    frozen version stays as it is, the case returns to in_progress). The
    ``saved`` event is appended to the case record.

    Parameters
    ----------
    case : Case
        The case.
    labels : numpy.ndarray
        (slice, row, column) labels on the case image grid.
    grid : Grid
        The grid the labels were painted on (must be the case image's).
    who : str, optional
        Who saves (default: the login name).
    role : str
        ``annotator`` or ``reviewer``.
    lock : CaseLock, optional
        The caller's case lock (otherwise taken for the save).
    **provenance
        Passed to :meth:`ctlabel.case.Case.save_draft`.

    Returns
    -------
    dict
        The draft's provenance record.

    Raises
    ------
    StateError
        The case is submitted and awaits review.
    LockError
        Somebody else holds the case lock.
    """
    who = _who(who)
    with _locked(case, who, lock) as held:
        state = load_record(case)["State"]
        if state == SUBMITTED:
            raise StateError("the case is submitted and awaits review; it cannot be saved until a reviewer "
                             "rejects it (or corrects it)", case.draft_path)
        written = case.save_draft(np.asarray(labels), grid, **provenance)
        if state in (APPROVED, REJECTED):
            start_new_draft(case, who, role=role, lock=held)
        log_edit(case, who, "saved", role=role, lock=held)
        return written


def _check_frozen(record: dict, name: str, mask: Mask) -> None:
    created = _version_event(record, name)
    if created is None:
        raise ProvenanceError(f"version {name} is not in the case record", mask.path)
    if created.get("VoxelSHA256") != mask.voxel_hash:
        raise ProvenanceError(f"version {name} was changed after it was frozen (voxel hash differs)", mask.path)


def _review_target(case: Case, record: dict, version: int | None) -> tuple[int, Mask]:
    versions = case.versions()
    if not versions:
        raise StateError("the case has no version to review", case.masks_dir)
    n = versions[-1] if version is None else int(version)
    if n != versions[-1]:
        raise StateError(f"only the latest version ({version_name(versions[-1])}) is under review, "
                         f"not {version_name(n)}", case.record_path)
    mask = case.load_version(n)
    _check_frozen(record, version_name(n), mask)
    return n, mask


def approve(case: Case, who: str | None = None, *, version: int | None = None,
            comment: str | None = None, lock: CaseLock | None = None) -> int:
    """Approve the submitted (latest) version; return its number."""
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "approved", case.record_path)
        n, mask = _review_target(case, record, version)
        name = version_name(n)
        author = _version_event(record, name)
        if author and author.get("Who") == who and author.get("Role") == "annotator":
            raise StateError(f"{who} submitted {name} and cannot also approve it", case.record_path)
        extra = {"Comment": comment} if comment else {}
        record["ApprovedVersion"] = name
        record.pop("Comment", None)
        _append(case, record, event(who, "reviewer", "approved", name, VoxelSHA256=mask.voxel_hash, **extra))
        return n


def reject(case: Case, who: str | None = None, comment: str = "", *, version: int | None = None,
           lock: CaseLock | None = None) -> int:
    """Reject the submitted (latest) version with a comment; return its number."""
    who = _who(who)
    comment = (comment or "").strip()
    if not comment:
        raise InputError("a rejection needs a comment saying what to fix")
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "rejected", case.record_path)
        n, mask = _review_target(case, record, version)
        name = version_name(n)
        record["Comment"] = comment
        record["ApprovedVersion"] = None
        _append(case, record, event(who, "reviewer", "rejected", name, VoxelSHA256=mask.voxel_hash,
                                    Comment=comment))
        return n


def correct(case: Case, labels: np.ndarray, grid: Grid, who: str | None = None, *,
            painted: dict | None = None, comment: str | None = None, lock: CaseLock | None = None) -> int:
    """Save a reviewer's correction of the latest version as a new version (state: submitted).

    ``painted`` maps label -> slice indices the reviewer changed; by default the
    slices where the correction differs from the version it corrects.
    """
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "corrected", case.record_path)
        versions = case.versions()
        if not versions:
            raise StateError("there is no version to correct", case.masks_dir)
        base_mask = case.load_version(versions[-1])
        base_name = version_name(versions[-1])
        _check_frozen(record, base_name, base_mask)
        case.image_grid().require_match(grid, "the corrected mask", case.root)
        labels = np.asarray(labels)
        if painted is None:
            painted = changed_slices(base_mask.array, labels)
        base = _mask_base(base_mask)
        merged = {k: sorted(set(base["painted"].get(k, [])) | set(painted.get(k, [])))
                  for k in set(base["painted"]) | set(painted)}
        interp = {k: sorted(set(v) - set(merged.get(k, []))) for k, v in base["interpolated"].items()}
        merged, interp = edited_slices(labels, merged, interp)  # a label corrected away is not painted
        base.update(painted=merged, interpolated=interp, Annotator=who)
        extra_ev = {"CorrectedFrom": base_name}
        if comment:
            extra_ev["Comment"] = comment
        ev = event(who, "reviewer", "corrected", None, **extra_ev)
        n, _ = _freeze(case, labels, grid, base, ev, {"CorrectedFrom": base_name, "Role": "reviewer"})
        record["ApprovedVersion"] = None
        _append(case, record, ev)
        return n


def add_version(case: Case, labels: np.ndarray, grid: Grid, who: str, *, role: str = "annotator",
                imported_from: dict | None = None, lock: CaseLock | None = None) -> int:
    """Store a mask from another tool as a new version (action ``imported``, state in_progress)."""
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "imported", case.record_path)
        source = (imported_from or {}).get("Path") or (imported_from or {}).get("FileName")
        case.image_grid().require_match(grid, "the imported mask", source)
        ev = event(who, role, "imported", None, Source=source)
        base = {"Annotator": who}
        n, _ = _freeze(case, labels, grid, base, ev, {"ImportedFrom": imported_from or {}, "Role": role})
        record["ApprovedVersion"] = None
        _append(case, record, ev)
        return n


def start_new_draft(case: Case, who: str | None = None, *, role: str = "annotator",
                    lock: CaseLock | None = None) -> Mask | None:
    """Make the case editable again: a new draft copied from the latest version.

    An approved or rejected version stays frozen; the edit goes to the new draft
    and the case returns to in_progress. A submitted case cannot be edited by
    the annotator (the reviewer corrects it instead). Returns the draft (None if
    the case has no mask at all).
    """
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "created", case.record_path)
        draft = case.load_draft()
        versions = case.versions()
        if draft is not None:
            # a draft saved outside this call (e.g. by an editor) is the new draft
            if record["State"] != IN_PROGRESS:
                _append(case, record, event(who, role, "created", "draft", VoxelSHA256=draft.voxel_hash,
                                            FromVersion=version_name(versions[-1]) if versions else None))
            return draft
        if not versions:
            return None
        name = version_name(versions[-1])
        mask = case.load_version(versions[-1])
        _check_frozen(record, name, mask)
        base = _mask_base(mask)
        case.save_draft(mask.array, mask.grid, painted=base["painted"], interpolated=base["interpolated"],
                        axis=base["axis"], annotator=who,
                        events=[*base["Events"], event(who, role, "created", "draft", FromVersion=name)],
                        extra={"FromVersion": name})
        if record["State"] != IN_PROGRESS:
            _append(case, record, event(who, role, "created", "draft", FromVersion=name,
                                        VoxelSHA256=mask.voxel_hash))
        return case.load_draft()


def log_edit(case: Case, who: str, action: str, *, role: str = "annotator", lock: CaseLock | None = None,
             **extra) -> dict:
    """Record a painted / interpolated / saved event on the draft in the case record."""
    if action not in ("painted", "interpolated", "saved"):
        raise InputError(f"log_edit records painted, interpolated or saved, not {action!r}")
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, action, case.record_path)
        draft = case.load_draft()
        h = draft.voxel_hash if draft is not None else None
        return _append(case, record, event(who, role, action, "draft", VoxelSHA256=h, **extra))


def save_label_table(case: Case, table, who: str | None = None, *, role: str = "annotator",
                     lock: CaseLock | None = None) -> dict:
    """Write the case's ``labels.tsv`` and record it (``labels_changed``), so that verify vouches for it.

    Refused while a version awaits review. Returns the event.
    """
    who = _who(who)
    with _locked(case, who, lock):
        record = load_record(case)
        _require(record, "labels_changed", case.labels_path)
        case.save_labels(table)
        return _append(case, record, event(who, role, "labels_changed", None,
                                           Labels=[lab.name for lab in table]))


def changed_slices(before: np.ndarray, after: np.ndarray, axis: int = 0) -> dict[int, list[int]]:
    """Per label, the slices where a voxel gained or lost that label."""
    diff = before != after
    out: dict[int, list[int]] = {}
    if not diff.any():
        return out
    other = tuple(a for a in range(diff.ndim) if a != axis)
    for arr in (before, after):
        for lab in np.unique(arr[diff]):
            if lab == 0:
                continue
            hit = (diff & (arr == lab)).any(axis=other)
            out.setdefault(int(lab), set()).update(int(k) for k in np.flatnonzero(hit))
    return {k: sorted(v) for k, v in out.items()}


# --------------------------------------------------------------------------
# Opening a case for editing or review
# --------------------------------------------------------------------------


@dataclass
class Session:
    """A case opened by somebody: with the lock (editable) or read-only with a message why."""

    case: Case
    user: str
    lock: CaseLock | None
    message: str = ""

    @property
    def read_only(self) -> bool:
        return self.lock is None

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_case(root: str | os.PathLike, user: str | None = None, *, edit: bool = True) -> Session:
    """Open a case; take its lock when ``edit``. Someone else's lock gives a read-only session."""
    case = Case.open(root)
    user = _who(user)
    if not edit:
        holder = lock_holder(case.root)
        return Session(case, user, None, f"read-only; being edited by {holder.describe()}" if holder else "read-only")
    try:
        lock = acquire_lock(case.root, user)
    except LockError as exc:
        return Session(case, user, None, exc.reason)
    return Session(case, user, lock, "")


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


@dataclass
class Problem:
    level: str  # "error" or "warning"
    what: str  # "record", "event", "version", "image", "draft"
    message: str
    path: str | None = None
    event_index: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    case: str
    problems: list[Problem] = field(default_factory=list)
    versions: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)

    def to_dict(self) -> dict:
        return {"case": self.case, "ok": self.ok, "versions": self.versions, "events": self.events,
                "problems": [p.to_dict() for p in self.problems]}


def verify_case(case: Case, *, check_image: bool = True) -> VerifyReport:
    """Check the case record chain, every version and the image against their recorded hashes."""
    rep = VerifyReport(str(case.root))
    add = rep.problems.append
    try:
        record = load_record(case)
    except ProvenanceError as exc:
        add(Problem("error", "record", exc.reason, str(case.record_path)))
        return rep
    if not case.record_path.exists():
        add(Problem("warning", "record", "the case has no case.json yet", str(case.record_path)))
    events = record["Events"]
    rep.events = len(events)
    # 1. the chain
    prev = genesis_hash(record)
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            add(Problem("error", "event", f"event {i} is not an object", str(case.record_path), i))
            prev = None
            continue
        if ev.get("PreviousEventSHA256") != prev:
            add(Problem("error", "event", f"event {i} ({ev.get('Action')} {ev.get('Version')} by {ev.get('Who')}) "
                        "does not chain to the event before it: an event was changed, removed or inserted",
                        str(case.record_path), i))
        prev = event_hash(ev)
    if events and record.get("HeadEventSHA256") != prev:
        add(Problem("error", "record", "the last event is not the recorded head of the chain: "
                    "events were removed from or added to the end", str(case.record_path)))
    # 2. the state agrees with the events
    expected = IN_PROGRESS
    for ev in events:
        if isinstance(ev, dict):
            expected = _RESULT.get(ev.get("Action"), expected)
    if events and record.get("State") != expected:
        add(Problem("error", "record", f"State is {record.get('State')!r} but the events say {expected!r}",
                    str(case.record_path)))
    # 3. the image
    if check_image and record.get("ImageVoxelSHA256"):
        from ctlabel.case_image import expected_image_hash

        try:
            vol = case.load_image()
            if voxel_hash(vol.array, vol.affine) != expected_image_hash(record):
                add(Problem("error", "image", "the image voxels no longer match the case record",
                            str(case.image_path)))
        except Exception as exc:  # noqa: BLE001 - report, do not crash a batch verify
            add(Problem("error", "image", f"cannot read the image ({exc})", str(case.image_path)))
    # 4. versions
    cache: dict[str, str | None] = {}

    def current_hash(name: str) -> str | None:
        if name not in cache:
            n = version_number(name)
            p = case.version_path(n) if n is not None else None
            if p is None or not p.exists():
                cache[name] = None
            else:
                try:
                    m = load_mask(p)
                    cache[name] = m.voxel_hash
                    if m.provenance and m.provenance.get("VoxelSHA256") != cache[name]:
                        add(Problem("error", "version", f"{name} voxels do not match its provenance sidecar "
                                    "(edited outside ctlabel)", str(p)))
                except Exception as exc:  # noqa: BLE001
                    add(Problem("error", "version", f"{name} cannot be read ({exc})", str(p)))
                    cache[name] = "unreadable"
        return cache[name]

    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        name = ev.get("Version")
        if version_number(name or "") is None or not ev.get("VoxelSHA256"):
            continue
        h = current_hash(name)
        if h is None:
            add(Problem("error", "version", f"{name} is missing but event {i} ({ev.get('Action')}) speaks of it",
                        str(case.version_path(version_number(name))), i))
        elif h != ev["VoxelSHA256"] and h != "unreadable":
            add(Problem("error", "version", f"{name} no longer matches event {i} ({ev.get('Action')} by "
                        f"{ev.get('Who')} at {ev.get('When')}): its voxels changed", str(case.version_path(
                            version_number(name))), i))
    for n in case.versions():
        name = version_name(n)
        current_hash(name)
        if _version_event(record, name) is None:
            add(Problem("error", "version", f"{name} is not in the case record (added outside ctlabel)",
                        str(case.version_path(n))))
    rep.versions = len(case.versions())
    # 5. every file an event vouched for, the summary fields, the chain head kept outside
    from ctlabel.case_integrity import check_integrity

    for p in check_integrity(case, record, event_hash):
        add(Problem(p.level, p.what, p.message, p.path))
    # 6. the draft (editable, so only its sidecar agreement)
    if case.draft_path.exists():
        try:
            d = load_mask(case.draft_path)
            if d.provenance and not d.hash_matches:
                add(Problem("warning", "draft", "the draft voxels do not match its provenance sidecar "
                            "(edited outside ctlabel?)", str(case.draft_path)))
        except Exception as exc:  # noqa: BLE001
            add(Problem("warning", "draft", f"the draft cannot be read ({exc})", str(case.draft_path)))
    return rep


def slice_sources(mask: Mask) -> dict[int, dict[str, list[int]]]:
    """Per slice (along the mask's slice axis): the labels painted and interpolated there."""
    out: dict[int, dict[str, list[int]]] = {}
    for kind, per_label in (("painted", mask.painted), ("interpolated", mask.interpolated)):
        for lab, ks in per_label.items():
            for k in ks:
                out.setdefault(int(k), {"painted": [], "interpolated": []})[kind].append(int(lab))
    return dict(sorted(out.items()))


def describe_event(ev: dict) -> str:
    """One line for a person: when, who (role), what, on which version, and the comment."""
    text = f"{ev.get('When', '?')}  {ev.get('Who', '?')} ({ev.get('Role', '?')}) {ev.get('Action', '?')}"
    if ev.get("Version"):
        text += f" {ev['Version']}"
    for key in ("CorrectedFrom", "FromVersion"):
        if ev.get(key):
            text += f" from {ev[key]}"
    if ev.get("Source"):
        text += f" from {Path(str(ev['Source'])).name}"
    if ev.get("Comment"):
        text += f": {ev['Comment']}"
    return text


def version_provenance(case: Case, number: int) -> dict:
    return read_sidecar(sidecar_path(case.version_path(number)))


def history(case: Case) -> list[dict]:
    """The events of the case record (copies)."""
    return copy.deepcopy(load_record(case)["Events"])


__all__ = [
    "APPROVED", "IN_PROGRESS", "REJECTED", "STATES", "SUBMITTED", "Problem", "Session", "Status", "VerifyReport",
    "add_version", "approve", "changed_slices", "correct", "describe_event", "describe_finding", "event_hash",
    "history", "load_record", "log_edit", "open_case", "reject", "save_draft", "slice_sources", "start_new_draft",
    "state_of", "status", "submission_qa", "submit", "verify_case", "version_name", "version_number",
]
