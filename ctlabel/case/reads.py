"""Reads and withdrawals: a reader's draft and read of a case read several times; withdrawing a submission.

**Reading by N readers**: each reader edits their own draft (``masks/draft-<reader>_dseg.nii.gz``,
:meth:`ctlabel.case.folder.Case.reader_draft_path`, named by the reader, never by a slot) and
submits it as a frozen version (action ``read``, the state stays in_progress). When the last of
the readers needed has submitted, the reads are fused (a ``fuse`` given by the caller, e.g.
:func:`ctlabel.measure.fusion.fuse`) into a new version, the submission under review: its
``submitted`` event names every read in ``Reads`` and records the per-reader figures in
``Fusion``. Without a fuser the ``submitted`` event makes no version (``Creates: false``, as
before). The reviewer approves the fusion, one of the reads, or corrects and approves that
(:func:`ctlabel.case.review.approve` accepts the versions in ``Reads``).

**Withdrawing** (action ``withdrawn``): the annotator takes their submission back while no
reviewer has acted on it (no decision, no correction). The version stays frozen; a new draft
is made from it and the case is in_progress again. In a double read, a reader withdraws their
read (their draft comes back), before or after the other reader submitted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ctlabel.case.folder import Case, check_reader
from ctlabel.case.lock import CaseLock, decision_lock
from ctlabel.case.qa_gate import qa_gate
from ctlabel.case.record import append_event, load_case_record, version_event, version_name, version_number
from ctlabel.case.review import _freeze, _locked, _mask_base, _who
from ctlabel.case.workflow import SUBMITTED, require
from ctlabel.errors import ProvenanceError, StateError
from ctlabel.io.mask import Mask
from ctlabel.io.provenance import event, sidecar_path
from ctlabel.model import Action, CaseRecord, MaskProvenance, SliceEdits
from ctlabel.volume import Grid


class FusedProposal(Protocol):
    """What a fuser returns (:class:`ctlabel.measure.fusion.Fusion` is one).

    The fused labels, and the figures recorded in the ``submitted`` event (``Fusion``).
    """

    @property
    def labels(self) -> np.ndarray: ...

    def record(self) -> dict: ...


#: Fuses the reads (their masks, in version order, and their readers) into the proposal under review.
Fuser = Callable[[Sequence[Mask], Sequence[str]], FusedProposal]
#: Adaptive reading: given the first two reads, whether they are enough (no further read needed).
Enough = Callable[[Sequence[Mask]], bool]

#: Events after which no read stands any more (the case was decided, or a new draft started).
_ROUND_ENDS = (Action.APPROVED, Action.REJECTED, Action.CREATED, Action.IMPORTED)


def standing_reads(record: CaseRecord) -> dict[str, str]:
    """The reads of the current round: reader -> version name, in the order submitted.

    Parameters
    ----------
    record : CaseRecord
        The case record.

    Returns
    -------
    dict
        Every reader whose ``read`` was neither withdrawn nor followed by a decision.
    """
    reads: dict[str, str] = {}
    for ev in record.events:
        if ev.action in _ROUND_ENDS:
            reads = {}
        elif ev.action is Action.READ and ev.reader:
            reads[ev.reader] = str(ev.version)
        elif ev.action is Action.WITHDRAWN and ev.reader:
            reads.pop(ev.reader, None)
    return reads


def save_read(case: Case, reader: str, labels: np.ndarray, grid: Grid, who: str | None = None, *,
              lock: CaseLock | None = None, **provenance) -> MaskProvenance:
    """Save one reader's draft of a double-read case (a ``saved`` event naming the reader).

    Parameters
    ----------
    case : Case
        The case.
    reader : str
        The reader (their draft is ``masks/draft-<reader>_dseg.nii.gz``).
    labels : numpy.ndarray
        (slice, row, column) labels on the case image grid.
    grid : Grid
        The grid the labels were painted on.
    who : str, optional
        Who saves (default: the login name).
    lock : CaseLock, optional
        The caller's case lock.
    **provenance
        Passed to :meth:`ctlabel.case.folder.Case.save_draft`.

    Returns
    -------
    dict
        The draft's provenance record.

    Raises
    ------
    StateError
        The case is not in progress, or the reader's read is submitted (withdraw it first).
    """
    who = _who(who)
    target = case.reader_draft_path(reader)
    with _locked(case, who, lock):
        record = load_case_record(case)
        require(record, "saved", target)
        if reader in standing_reads(record):
            raise StateError(f"the read of {reader} is submitted; withdraw it before editing again", target)
        written = case.save_draft(np.asarray(labels), grid, target=target, **provenance)
        append_event(case, record, event(who, "annotator", "saved", f"draft-{reader}",
                                         VoxelSHA256=written.voxel_sha256, Reader=reader))
        return written


def submit_read(case: Case, reader: str, who: str | None = None, *, needed: int = 2, force: bool = False,
                lock: CaseLock | None = None, fuse: Fuser | None = None, enough: Enough | None = None) -> int:
    """Freeze one reader's draft as a version (``read``); the last read needed submits the case.

    Parameters
    ----------
    case : Case
        The case (in progress).
    reader : str
        The reader whose draft is frozen.
    who : str, optional
        The annotator (default: the login name).
    needed : int
        How many readers the case has: when this many reads stand, a ``submitted`` event names
        them all (``Reads``) and the case awaits review.
    force : bool
        Submit although QA finds errors (recorded as for :func:`ctlabel.case.review.submit`).
    lock : CaseLock, optional
        The caller's case lock.
    fuse : callable, optional
        Fuses the reads when the last is in: the fused mask is frozen as a new version, the
        submission under review, its ``submitted`` event naming the ``Reads`` and recording the
        proposal's figures (``Fusion``). Without it the ``submitted`` event makes no version.
    enough : callable, optional
        Adaptive reading: called with the first two reads when the second is in (and ``needed``
        is more); True submits the case with those two.

    Returns
    -------
    int
        The number of the read's version.

    Raises
    ------
    StateError
        The case is not in progress, the reader's read stands already, the reader has no draft,
        or QA finds errors and ``force`` is False.
    """
    who = _who(who)
    check_reader(reader)
    with _locked(case, who, lock):
        record = load_case_record(case)
        require(record, "read", case.record_path)
        if reader in standing_reads(record):
            raise StateError(f"the read of {reader} is submitted already", case.record_path)
        draft = case.load_reader_draft(reader)
        if draft is None:
            raise StateError(f"nothing to submit: {reader} has no draft", case.reader_draft_path(reader))
        if draft.provenance and not draft.hash_matches:
            raise ProvenanceError("the draft voxels do not match their provenance sidecar", draft.path)
        ev = event(who, "annotator", "read", None, Reader=reader, **qa_gate(case, draft, force, draft.path))
        base = _mask_base(draft)
        base["Annotator"] = base["Annotator"] or who
        n, frozen, made = _freeze(case, draft.array, draft.grid, base, ev,
                                  {"FrozenFrom": f"draft-{reader}", "Role": "annotator", "Reader": reader})
        record = append_event(case, record, made)
        assert draft.path is not None  # read from its file
        for p in (draft.path, sidecar_path(draft.path)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        reads = standing_reads(record)
        names = sorted(reads.values(), key=lambda v: version_number(v) or 0)
        masks = [case.load_version(version_number(v) or 0) for v in names] if fuse or enough else []
        early = len(reads) == 2 < needed and enough is not None and enough(masks)
        if len(reads) >= needed or early:
            if fuse is None:
                append_event(case, record, event(who, "annotator", "submitted", version_name(n),
                                                 VoxelSHA256=frozen.voxel_sha256, Creates=False, Reads=names),
                             approved_version=None, comment=None)
            else:
                _submit_fused(case, record, who, masks, names, fuse)
        return n


def _submit_fused(case: Case, record: CaseRecord, who: str, masks: list[Mask], names: list[str], fuse: Fuser) -> None:
    """Freeze the fusion of the reads as the version under review (a ``submitted`` event with ``Fusion``)."""
    made = [version_event(record, name) for name in names]
    readers = [str((ev.reader if ev else None) or name) for ev, name in zip(made, names)]
    proposal = fuse(masks, readers)
    ev = event(who, "annotator", "submitted", None, Reads=names, Fusion=proposal.record())
    base = {**_mask_base(masks[0]), "Events": [], "Annotator": ",".join(readers), "Created": None, "methods": None}
    for key in ("painted", "interpolated"):  # nobody painted the fusion
        if key in base:
            base[key] = {}
    if "edits" in base:
        base["edits"] = SliceEdits(axis=base["edits"].axis)
    _, _, frozen = _freeze(case, np.asarray(proposal.labels), masks[0].grid, base, ev,
                           {"FusedFrom": names, "Role": "annotator"})
    append_event(case, record, frozen, approved_version=None, comment=None)


def withdraw(case: Case, who: str | None = None, *, reader: str | None = None,
             lock: CaseLock | None = None) -> int:
    """Take a submission back before any reviewer acted on it; return the version withdrawn.

    The version stays frozen; a new draft (``reader``'s own in a double read) is made from it
    and a ``withdrawn`` event recorded; the case is in_progress again.

    Parameters
    ----------
    case : Case
        The case.
    who : str, optional
        The annotator who submitted (default: the login name).
    reader : str, optional
        In a double read: the reader whose read is withdrawn.
    lock : CaseLock, optional
        The caller's case lock.

    Raises
    ------
    StateError
        Nothing of ``who``'s is submitted, a reviewer corrected or decided it already, or a
        draft is open (it would be replaced).
    """
    who = _who(who)
    with _locked(case, who, lock), decision_lock(case.root, who):
        record = load_case_record(case)
        pending_read = reader is not None and record.state != SUBMITTED
        require(record, "read" if pending_read else "withdrawn", case.record_path)
        name = _withdrawable(case, record, who, reader)
        target = case.draft_path if reader is None else case.reader_draft_path(reader)
        if target.exists():
            raise StateError("a draft is open already; the submission cannot come back over it", target)
        mask = case.load_version(version_number(name) or 0)
        frozen_event = version_event(record, name)
        if frozen_event is not None and frozen_event.voxel_sha256 != mask.voxel_hash:
            raise ProvenanceError(f"version {name} was changed after it was frozen (voxel hash differs)", mask.path)
        extra = {"Reader": reader} if reader else {}
        ev = event(who, "annotator", "withdrawn", name, VoxelSHA256=mask.voxel_hash, **extra)
        _draft_from(case, mask, who, target, ev, name)
        append_event(case, record, ev, approved_version=None)
        return version_number(name) or 0


def _withdrawable(case: Case, record: CaseRecord, who: str, reader: str | None) -> str:
    """The version ``who`` may withdraw, or StateError saying why not."""
    events = record.events
    if reader is not None:
        name = standing_reads(record).get(check_reader(reader))
        made = version_event(record, name) if name else None
        if made is None or made.who != who:
            raise StateError(f"{who} has no submitted read to withdraw", case.record_path)
        last_submit = max((i for i, e in enumerate(events) if e.action is Action.SUBMITTED), default=-1)
        if record.state == SUBMITTED and any(e.action is Action.CORRECTED for e in events[last_submit:]):
            raise StateError("a reviewer has corrected the reads already; it can no longer be withdrawn",
                             case.record_path)
        assert name is not None  # its event was found above
        return name
    if record.state != SUBMITTED:
        raise StateError(f"the case is {record.state}; there is no submission to withdraw", case.record_path)
    versions = case.versions()
    last = record.last(Action.SUBMITTED, Action.CORRECTED)
    if last is None or last.action is not Action.SUBMITTED or last.reads:
        raise StateError("a reviewer has corrected it already; it can no longer be withdrawn"
                         if last is not None and last.action is Action.CORRECTED
                         else "the submission is a double read: each reader withdraws their read", case.record_path)
    if last.who != who or not versions or last.version != version_name(versions[-1]):
        raise StateError(f"{who} did not submit the version under review", case.record_path)
    return str(last.version)


def _draft_from(case: Case, mask: Mask, who: str, target, ev: dict, name: str) -> None:
    base = _mask_base(mask)
    case.save_draft(mask.array, mask.grid, target=target, edits=base["edits"], annotator=base["Annotator"] or who,
                    events=[*base["Events"], dict(ev)], extra={"FromVersion": name},
                    methods=base["methods"])


__all__ = ["Enough", "FusedProposal", "Fuser", "save_read", "standing_reads", "submit_read", "withdraw"]
