r"""The review state machine of a case, as one transition table.

States and the only transitions allowed (see ``docs/review.md``)::

    in_progress --submit--> submitted --approve--> approved
         ^                      |  \--reject---> rejected
         |                      +--correct (reviewer; new version, stays submitted)
         +------ edit (new draft from the latest version) <-- approved / rejected
         +------ withdraw (the annotator, before any reviewer acted) <-- submitted
    submitted --accept (the review policy, no reviewer)--> accepted --approve/reject/correct (a reviewer)

``ALLOWED_FROM[action]`` lists the states an action may start from and ``RESULT[action]``
the state it leads to (an action without a result keeps the state). Nothing else in
ctlabel decides whether an action is allowed: :func:`require` is the only check.
"""

from __future__ import annotations

from ctlabel.errors import StateError
from ctlabel.model import CaseRecord, CaseState

IN_PROGRESS = CaseState.IN_PROGRESS
SUBMITTED = CaseState.SUBMITTED
APPROVED = CaseState.APPROVED
REJECTED = CaseState.REJECTED
ACCEPTED = CaseState.ACCEPTED
STATES = (IN_PROGRESS, SUBMITTED, APPROVED, REJECTED, ACCEPTED)

#: The transition table: action -> (the states it may start from, the state it leads to;
#: ``None`` keeps the state). Edits of a draft (painted, interpolated, saved) need an open draft.
TRANSITIONS: dict[str, tuple[tuple[CaseState, ...], CaseState | None]] = {
    "submitted": ((IN_PROGRESS, REJECTED), SUBMITTED),
    "approved": ((SUBMITTED, ACCEPTED), APPROVED),
    "rejected": ((SUBMITTED, ACCEPTED), REJECTED),
    "corrected": ((SUBMITTED, REJECTED, APPROVED, ACCEPTED), SUBMITTED),
    # the review policy accepts a trusted annotator's submission without review; a reviewer may still
    # pull it (approve, reject, correct from accepted)
    "accepted": ((SUBMITTED,), ACCEPTED),
    "imported": ((IN_PROGRESS, REJECTED, APPROVED), IN_PROGRESS),
    "created": ((IN_PROGRESS, REJECTED, APPROVED), IN_PROGRESS),
    "painted": ((IN_PROGRESS,), None),
    "interpolated": ((IN_PROGRESS,), None),
    "saved": ((IN_PROGRESS,), None),
    "labels_changed": ((IN_PROGRESS, REJECTED, APPROVED), None),
    # one reader's version of a double-read case; the second read is followed by "submitted"
    "read": ((IN_PROGRESS,), None),
    # the annotator takes a submission back before any reviewer acted (a reader of a double read
    # may also take back their read while the case is in progress: that is checked as "read")
    "withdrawn": ((SUBMITTED,), IN_PROGRESS),
}
#: The actions whose event creates a frozen version.
CREATES_VERSION = ("submitted", "corrected", "imported", "read")
#: Views of the table: the states an action may start from, and the state it leads to.
ALLOWED_FROM = {action: starts for action, (starts, _) in TRANSITIONS.items()}
RESULT = {action: result for action, (_, result) in TRANSITIONS.items() if result is not None}


def require(record: CaseRecord, action: str, path) -> None:
    """Raise :class:`StateError` unless ``action`` is allowed from the record's state.

    Parameters
    ----------
    record : CaseRecord
        The case record.
    action : str
        The event's action (a key of ``ALLOWED_FROM``).
    path : path
        Named in the error.
    """
    state = record.state
    if state not in ALLOWED_FROM[action]:
        verb = {"approved": "approve", "rejected": "reject", "submitted": "submit", "corrected": "correct",
                "imported": "import into", "created": "start a new draft of",
                "read": "submit a read of", "withdrawn": "withdraw a submission of",
                "accepted": "accept"}.get(action, action)
        why = {
            ("approved", IN_PROGRESS): "it was never submitted (or is being edited again)",
            ("rejected", IN_PROGRESS): "it was never submitted (or is being edited again)",
            ("approved", APPROVED): "it is already approved",
            ("submitted", SUBMITTED): "it is already submitted and awaits review",
            ("submitted", APPROVED): "it is approved; a further edit makes a new draft first",
            ("imported", SUBMITTED): "it awaits review; approve or reject it first",
            ("created", SUBMITTED): "it awaits review; the reviewer corrects it, or rejects it first",
            ("corrected", IN_PROGRESS): "it was not submitted; the annotator is still editing it",
            ("withdrawn", IN_PROGRESS): "there is no submission to withdraw",
            ("withdrawn", APPROVED): "a reviewer has decided it already",
            ("withdrawn", REJECTED): "a reviewer has decided it already",
            ("withdrawn", ACCEPTED): "the review policy accepted it already",
            ("submitted", ACCEPTED): "the review policy accepted it; a reviewer may still reject it",
            ("created", ACCEPTED): "the review policy accepted it; a reviewer rejects or corrects it",
        }.get((action, state), f"that is not allowed from state {str(state)!r}")
        raise StateError(f"cannot {verb} the case: it is {state}; {why}", path)


def result_of(action: str, state: str) -> str:
    """The state after ``action`` from ``state`` (``state`` itself for an action without a result)."""
    return RESULT.get(action, state)


__all__ = [
    "ACCEPTED", "ALLOWED_FROM", "APPROVED", "CREATES_VERSION",
    "IN_PROGRESS", "REJECTED", "RESULT", "STATES", "SUBMITTED", "TRANSITIONS",
    "require", "result_of",
]
