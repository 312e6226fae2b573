"""The review actions on a case, and opening a case for editing (``ReviewSession``).

The actions: save a draft, submit, approve, reject, correct, import a version, start a new
draft, log an edit.

Each action takes the case lock (or checks the caller's; approve and reject of a submitted case take
only the short-lived decision lock, which correct takes as well), asks the transition table
(:mod:`ctlabel.case.workflow`) whether it is allowed, and appends its event to the
record (:mod:`ctlabel.case.record`). Frozen versions are never rewritten.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from ctlabel.case.folder import Case
from ctlabel.case.lock import CaseLock, acquire_lock, decision_lock, lock_holder
from ctlabel.case.qa_gate import qa_gate
from ctlabel.case.record import append_event, load_case_record, reads_under_review, version_event, version_name
from ctlabel.case.workflow import APPROVED, IN_PROGRESS, REJECTED, SUBMITTED, require
from ctlabel.errors import CaseError, InputError, LockError, ProvenanceError, StateError
from ctlabel.io.mask import Mask, MaskFields, labels_present, save_mask
from ctlabel.io.provenance import event, sidecar_path
from ctlabel.model import Action, CaseRecord, Event, MaskProvenance, SliceEdits
from ctlabel.painting.tracking import changed_slices
from ctlabel.volume import Grid


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


def _freeze(case: Case, labels: np.ndarray, grid: Grid, base: dict, ev: Event | dict,
            extra: dict) -> tuple[int, MaskProvenance, Event]:
    """Write a new frozen version with ``ev`` appended to the base provenance events.

    Returns the version's number, its sidecar, and ``ev`` naming the version and its voxel hash
    (the event the case record gets).
    """
    n = _next_version(case)
    path = case.version_path(n)
    if path.exists() or sidecar_path(path).exists():
        raise CaseError("the version file exists already; versions are never overwritten", path)
    name = version_name(n)
    ev = replace(ev if isinstance(ev, Event) else Event.from_dict(ev), version=name)
    img = case.image_record()
    prov_events = [dict(e) for e in base.get("Events", [])] + [ev.to_dict()]
    record = save_mask(
        path, labels, grid,
        source=base.get("Source") or img.get("Source"),
        label_table=case.load_labels(),
        edits=base.get("edits") or SliceEdits(),
        annotator=base.get("Annotator"),
        events=prov_events,
        created=base.get("Created"),
        image_voxel_sha256=img.get("VoxelSHA256"),
        extra={"Version": name, **extra},
        methods=base.get("methods"),
    )
    return n, record, replace(ev, extra={**ev.extra, "VoxelSHA256": record.voxel_sha256})


def _mask_base(mask: Mask) -> dict:
    p = mask.provenance or MaskProvenance("0" * 64)  # a foreign mask: no events, source, author, creation time
    return {"Events": [e.to_dict() for e in p.events], "Source": p.source, "edits": mask.edits,
            "Annotator": p.annotator, "Created": p.created, "methods": mask.methods}


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
        Submit although QA (:func:`ctlabel.case.qa_gate.submission_qa`) finds errors; the submitted event
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
        record = load_case_record(case)
        require(record, "submitted", case.record_path)
        draft = case.load_draft()
        if draft is not None:
            if draft.provenance and not draft.hash_matches:
                raise ProvenanceError("the draft voxels do not match their provenance sidecar (edited outside "
                                      "ctlabel?); import the file with 'ctlabel import' instead", draft.path)
            ev = event(who, "annotator", "submitted", None, **qa_gate(case, draft, force, draft.path))
            base = _mask_base(draft)
            base["Annotator"] = base["Annotator"] or who
            n, _, made = _freeze(case, draft.array, draft.grid, base, ev, {"FrozenFrom": "draft", "Role": "annotator"})
            append_event(case, record, made, approved_version=None, comment=None)
            for p in (case.draft_path, sidecar_path(case.draft_path)):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            return n
        versions = case.versions()
        if versions:
            name = version_name(versions[-1])
            last = [e for e in record.events if e.version == name]
            if last and all(e.action is Action.IMPORTED for e in last):
                mask = case.load_version(versions[-1])
                digest = _check_frozen(record, name, mask)
                gate = qa_gate(case, mask, force, mask.path)
                ev = event(who, "annotator", "submitted", name, VoxelSHA256=digest, Creates=False, **gate)
                append_event(case, record, ev)
                return versions[-1]
        raise StateError("nothing to submit: the case has no draft", case.draft_path)


def save_draft(case: Case, labels: np.ndarray, grid: Grid, who: str | None = None, *, role: str = "annotator",
               lock: CaseLock | None = None, fields: MaskFields | None = None, **provenance) -> MaskProvenance:
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
    fields : MaskFields, optional
        What the draft's provenance records (the slice edits, events, who...).
    **provenance
        Fields to set beside ``fields``; both passed to :meth:`ctlabel.case.folder.Case.save_draft`.

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
        state = load_case_record(case).state
        if state in (SUBMITTED, "accepted"):  # accepted by the review policy: a reviewer may still pull it
            raise StateError(f"the case is {state} and awaits review; it cannot be saved until a reviewer "
                             "rejects it (or corrects it)", case.draft_path)
        written = case.save_draft(np.asarray(labels), grid, fields=fields, **provenance)
        if state in (APPROVED, REJECTED):
            start_new_draft(case, who, role=role, lock=held)
        log_edit(case, who, "saved", role=role, lock=held)
        return written


def _check_frozen(record: CaseRecord, name: str, mask: Mask) -> str:
    """The version's voxel hash, checked against the one recorded when it was frozen (hashed once)."""
    created = version_event(record, name)
    if created is None:
        raise ProvenanceError(f"version {name} is not in the case record", mask.path)
    digest = mask.voxel_hash
    if created.voxel_sha256 != digest:
        raise ProvenanceError(f"version {name} was changed after it was frozen (voxel hash differs)", mask.path)
    return digest


def _review_target(case: Case, record: CaseRecord, version: int | None) -> tuple[int, Mask, str]:
    versions = case.versions()
    if not versions:
        raise StateError("the case has no version to review", case.masks_dir)
    n = versions[-1] if version is None else int(version)
    if n != versions[-1] and version_name(n) not in reads_under_review(record):  # double reading: A or B
        raise StateError(f"only the latest version ({version_name(versions[-1])}) is under review, "
                         f"not {version_name(n)}", case.record_path)
    mask = case.load_version(n)
    return n, mask, _check_frozen(record, version_name(n), mask)


def approve(case: Case, who: str | None = None, *, version: int | None = None,
            comment: str | None = None, lock: CaseLock | None = None) -> int:
    """Approve the submitted (latest) version; return its number."""
    who = _who(who)
    with _locked(case, who, lock) if lock else contextlib.nullcontext(), decision_lock(case.root, who):
        record = load_case_record(case)
        require(record, "approved", case.record_path)
        n, _mask, digest = _review_target(case, record, version)
        name = version_name(n)
        author = version_event(record, name)
        if author and author.who == who and author.role == "annotator":
            raise StateError(f"{who} submitted {name} and cannot also approve it", case.record_path)
        extra = {"Comment": comment} if comment else {}
        append_event(case, record, event(who, "reviewer", "approved", name, VoxelSHA256=digest, **extra),
                     approved_version=name, comment=None)
        return n


def reject(case: Case, who: str | None = None, comment: str = "", *, version: int | None = None,
           lock: CaseLock | None = None) -> int:
    """Reject the submitted (latest) version with a comment; return its number."""
    who = _who(who)
    comment = (comment or "").strip()
    if not comment:
        raise InputError("a rejection needs a comment saying what to fix")
    with _locked(case, who, lock) if lock else contextlib.nullcontext(), decision_lock(case.root, who):
        record = load_case_record(case)
        require(record, "rejected", case.record_path)
        n, _mask, digest = _review_target(case, record, version)
        name = version_name(n)
        append_event(case, record, event(who, "reviewer", "rejected", name, VoxelSHA256=digest, Comment=comment),
                     approved_version=None, comment=comment)
        return n


def correct(case: Case, labels: np.ndarray, grid: Grid, who: str | None = None, *,
            painted: dict | None = None, comment: str | None = None, lock: CaseLock | None = None) -> int:
    """Save a reviewer's correction of the latest version as a new version (state: submitted).

    ``painted`` maps label -> slice indices the reviewer changed; by default the
    slices where the correction differs from the version it corrects.
    """
    who = _who(who)
    with _locked(case, who, lock), decision_lock(case.root, who):
        record = load_case_record(case)
        require(record, "corrected", case.record_path)
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
        was = base["edits"]
        merged = {k: set(was.painted.get(k, ())) | set(painted.get(k, ())) for k in set(was.painted) | set(painted)}
        interp = {k: set(v) - merged.get(k, set()) for k, v in was.interpolated.items()}
        # a label corrected away is not painted
        base.update(edits=SliceEdits(merged, {}, interp, was.axis).for_present(labels_present(labels)), Annotator=who)
        extra_ev = {"CorrectedFrom": base_name}
        if comment:
            extra_ev["Comment"] = comment
        ev = event(who, "reviewer", "corrected", None, **extra_ev)
        n, _, made = _freeze(case, labels, grid, base, ev, {"CorrectedFrom": base_name, "Role": "reviewer"})
        append_event(case, record, made, approved_version=None)
        return n


def add_version(case: Case, labels: np.ndarray, grid: Grid, who: str, *, role: str = "annotator",
                imported_from: dict | None = None, lock: CaseLock | None = None) -> int:
    """Store a mask from another tool as a new version (action ``imported``, state in_progress)."""
    who = _who(who)
    with _locked(case, who, lock):
        record = load_case_record(case)
        require(record, "imported", case.record_path)
        source = (imported_from or {}).get("Path") or (imported_from or {}).get("FileName")
        case.image_grid().require_match(grid, "the imported mask", source)
        ev = event(who, role, "imported", None, Source=source)
        base = {"Annotator": who}
        n, _, made = _freeze(case, labels, grid, base, ev, {"ImportedFrom": imported_from or {}, "Role": role})
        append_event(case, record, made, approved_version=None)
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
        record = load_case_record(case)
        require(record, "created", case.record_path)
        draft = case.load_draft()
        versions = case.versions()
        if draft is not None:
            # a draft saved outside this call (e.g. by an editor) is the new draft
            if record.state != IN_PROGRESS:
                append_event(case, record, event(who, role, "created", "draft", VoxelSHA256=draft.voxel_hash,
                                            FromVersion=version_name(versions[-1]) if versions else None))
            return draft
        if not versions:
            return None
        name = version_name(versions[-1])
        mask = case.load_version(versions[-1])
        digest = _check_frozen(record, name, mask)
        base = _mask_base(mask)
        case.save_draft(mask.array, mask.grid, edits=base["edits"], annotator=who,
                        events=[*base["Events"], event(who, role, "created", "draft", FromVersion=name)],
                        extra={"FromVersion": name})
        if record.state != IN_PROGRESS:
            append_event(case, record, event(who, role, "created", "draft", FromVersion=name,
                                        VoxelSHA256=digest))
        return case.load_draft()


def log_edit(case: Case, who: str, action: str, *, role: str = "annotator", lock: CaseLock | None = None,
             **extra) -> dict:
    """Record a painted / interpolated / saved event on the draft in the case record."""
    if action not in ("painted", "interpolated", "saved"):
        raise InputError(f"log_edit records painted, interpolated or saved, not {action!r}")
    who = _who(who)
    with _locked(case, who, lock):
        record = load_case_record(case)
        require(record, action, case.record_path)
        draft = case.load_draft()
        h = draft.voxel_hash if draft is not None else None
        ev = event(who, role, action, "draft", VoxelSHA256=h, **extra)
        return append_event(case, record, ev).events[-1].to_dict()


def save_label_table(case: Case, table, who: str | None = None, *, role: str = "annotator",
                     lock: CaseLock | None = None) -> dict:
    """Write the case's ``labels.tsv`` and record it (``labels_changed``), so that verify vouches for it.

    Refused while a version awaits review. Returns the event.
    """
    who = _who(who)
    with _locked(case, who, lock):
        record = load_case_record(case)
        require(record, "labels_changed", case.labels_path)
        case.save_labels(table)
        ev = event(who, role, "labels_changed", None, Labels=[lab.name for lab in table])
        return append_event(case, record, ev).events[-1].to_dict()


__all__ = [
    "add_version", "approve", "correct", "log_edit", "reject",
    "save_draft", "save_label_table", "start_new_draft", "submit",
]
