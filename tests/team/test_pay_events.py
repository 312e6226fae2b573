"""The pay reads typed events: a row's detail is read once into a PayEvent (issue 22, item 1)."""

from __future__ import annotations

import pytest

from ctlabel.team.pay_events import COUNTED, PayEvent, PayKind
from ctlabel.team.report import tally


def test_a_row_is_read_into_a_typed_event():
    ev = PayEvent.from_row(7, "approve", {"annotator_id": 3, "readers": [4, 5], "reviews": {"7": 1, "8": 2},
                                          "resubmissions": 2, "version": "v003"})
    assert ev.kind is PayKind.APPROVE and ev.paid_annotators == (3, 4, 5)
    assert ev.reviews == {7: 1, 8: 2} and ev.resubmissions == 2
    assert PayEvent.from_row(3, "submit", None) == PayEvent(3, PayKind.SUBMIT)
    assert set(COUNTED) == {"submit", "withdraw_submit", "approve", "reject", "correct", "upload", "gold_score",
                            "policy_accept"}
    with pytest.raises(ValueError):
        PayEvent.from_row(3, "heartbeat", {})
    with pytest.raises(ValueError, match="negative"):
        PayEvent.from_row(3, "approve", {"resubmissions": -1})


def test_tally_counts_items_from_typed_events():
    rows = [(3, "submit", {}), (9, "reject", {"annotator_id": 3}), (3, "submit", {"resubmission": True}),
            (3, "withdraw_submit", {"resubmission": True}), (3, "submit", {"resubmission": True}),
            (8, "approve", {"annotator_id": 3, "reviews": {"9": 1}, "resubmissions": 1}),
            (5, "gold_score", {"score": 0.9})]
    people, active = tally(rows, [], 60)
    assert people[3]["submitted"] == 2 and people[3]["resubmitted"] == 1 and people[3]["rejected"] == 1
    assert people[3]["items"] == {"annotation": 1, "review": 0, "rework": 1, "gold": 0}
    assert people[8]["items"]["review"] == 1 and people[9]["items"]["review"] == 1 and people[9]["reviews"] == 1
    assert people[5]["items"]["gold"] == 1 and not active
