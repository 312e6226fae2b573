"""Accepting a submission by a project's review policy, without a reviewer (action ``accepted``).

The team server decides with its review policy (:mod:`ctlabel.measure.review_policy`) whether a
trusted annotator's submission skips review; when it does, :func:`accept_by_policy` records the
decision in ``case.json``: an ``accepted`` event by the system (role ``system``) naming the version,
its voxel hash, the annotator, the policy's settings and the figures that allowed it (the accuracy
per label with its interval, the gold cases since the last failure, the random draw). The case is
then ``accepted``: exported as an approved case is (marked as accepted by the policy), and a
reviewer may still pull it (approve, reject or correct it: rows of
:data:`ctlabel.case.workflow.TRANSITIONS`). ``docs/review.md`` and ``docs/quality.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ctlabel.case.folder import Case
from ctlabel.case.lock import CaseLock, decision_lock
from ctlabel.case.record import append_event, load_case_record, version_event, version_name
from ctlabel.case.workflow import require
from ctlabel.errors import InputError, ProvenanceError, StateError
from ctlabel.io.provenance import event
from ctlabel.model import Action, CaseRecord, CaseState, Event

#: Who an acceptance is recorded as (role ``system``): the policy, not a person.
POLICY_ACTOR = "review-policy"


def accepted_event(record: CaseRecord) -> Event | None:
    """The ``accepted`` event of the standing acceptance (the case is accepted), else None."""
    return record.last(Action.ACCEPTED) if record.state is CaseState.ACCEPTED else None


def accept_by_policy(case: Case, annotator: str, policy: Mapping, decision: Mapping, *,
                     lock: CaseLock | None = None) -> int:
    """Accept the submitted (latest) version without review; return its number.

    Parameters
    ----------
    case : Case
        A submitted case.
    annotator : str
        Who submitted the version (checked against the record).
    policy : mapping
        The policy's settings (``ReviewPolicy.as_json``), recorded as ``Policy``.
    decision : mapping
        The figures that allowed it (``PolicyDecision.as_json``), recorded as ``Decision``; its
        ``accepted`` must be true.
    lock : CaseLock, optional
        Not needed: like an approval, the acceptance takes only the decision lock.

    Raises
    ------
    StateError
        The case is not submitted, or its latest version was not submitted by ``annotator``.
    ProvenanceError
        The version changed after it was frozen.
    """
    if not decision.get("accepted"):
        raise InputError("the policy's decision does not accept this submission", options=("decision",))
    del lock  # a decision, like approve: only the decision lock (nobody edits a submitted case)
    with decision_lock(case.root, POLICY_ACTOR):
        record = load_case_record(case)
        require(record, "accepted", case.record_path)
        versions = case.versions()
        if not versions:
            raise StateError("the case has no version to accept", case.masks_dir)
        name = version_name(versions[-1])
        made = version_event(record, name)
        submit = record.last(Action.SUBMITTED)
        if submit is None or submit.version != name or submit.who != annotator or submit.reads:
            raise StateError(f"{name} is not a single submission by {annotator}; only that is accepted by the policy",
                             case.record_path)
        mask = case.load_version(versions[-1])
        digest = mask.voxel_hash
        if made is None or made.voxel_sha256 != digest:
            raise ProvenanceError(f"version {name} was changed after it was frozen (voxel hash differs)", mask.path)
        ev = event(POLICY_ACTOR, "system", "accepted", name, VoxelSHA256=digest, Annotator=annotator,
                   Policy=dict(policy), Decision=dict(decision))
        append_event(case, record, ev, comment=None)
        return versions[-1]


__all__ = ["POLICY_ACTOR", "accept_by_policy", "accepted_event"]
