"""The team's events as the pay and the report read them: typed, read from a row in one place.

An event row of the team database is ``(user_id, kind, detail)``; ``detail`` is a JSON object
whose keys depend on the kind. :meth:`PayEvent.from_row` is the one reader of the keys the pay
counts (``resubmission`` of a submit, ``annotator_id``, ``readers``, ``reviews`` and
``resubmissions`` of a decision); the report's :func:`ctlabel.team.report.tally` and, through
it, the pay periods (:mod:`ctlabel.team.pay`) use the typed event, never the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class PayKind(StrEnum):
    """The event kinds the report counts (besides heartbeats); the member equals the stored kind."""

    SUBMIT = "submit"
    WITHDRAW_SUBMIT = "withdraw_submit"
    APPROVE = "approve"
    REJECT = "reject"
    CORRECT = "correct"
    UPLOAD = "upload"
    GOLD_SCORE = "gold_score"
    POLICY_ACCEPT = "policy_accept"


#: The stored kinds the report selects.
COUNTED = tuple(str(k) for k in PayKind)


@dataclass(frozen=True)
class PayEvent:
    """One counted event: who, what, and what it says for the pay.

    Attributes
    ----------
    user_id : int or None
        Who acted (None for the system).
    kind : PayKind
    resubmission : bool
        A submit (or its withdrawal) after a rejection.
    annotator_id : int or None
        A decision's case annotator.
    readers : tuple of int
        An approval's readers (a case read by several people: each is owed an annotation).
    reviews : mapping of int to int
        An approval's earlier review decisions per reviewer since the last approval.
    resubmissions : int
        An approval's (or a policy acceptance's) resubmissions since the case was last paid (rework
        owed to the annotator).
    annotation_paid : bool
        An approval of a case the review policy accepted (and paid) since its last approval: the
        annotation is not owed again.
    """

    user_id: int | None
    kind: PayKind
    resubmission: bool = False
    annotator_id: int | None = None
    readers: tuple[int, ...] = ()
    reviews: Mapping[int, int] = field(default_factory=dict)
    resubmissions: int = 0
    annotation_paid: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PayKind(self.kind))
        if self.resubmissions < 0 or any(n < 0 for n in self.reviews.values()):
            raise ValueError("an approval's counts are never negative")

    @classmethod
    def from_row(cls, user_id: int | None, kind: str, detail: Mapping | None) -> PayEvent:
        """Read an event row (``ValueError`` for a kind the pay does not count)."""
        d = detail or {}
        return cls(user_id, PayKind(kind), resubmission=bool(d.get("resubmission")),
                   annotator_id=d.get("annotator_id") or None,
                   readers=tuple(int(r) for r in d.get("readers") or ()),
                   reviews={int(u): int(n) for u, n in (d.get("reviews") or {}).items()},
                   resubmissions=int(d.get("resubmissions") or 0),
                   annotation_paid=bool(d.get("annotation_paid")))

    @property
    def paid_annotators(self) -> tuple[int, ...]:
        """Who an approval owes an annotation item: the case's annotator, then each reader.

        None when the review policy's acceptance paid the annotation already.
        """
        if self.annotation_paid:
            return ()
        return ((self.annotator_id,) if self.annotator_id else ()) + self.readers


__all__ = ["COUNTED", "PayEvent", "PayKind"]
