"""The review transition table: every action from every state, allowed or refused, on a real case.

The expected table is read from docs/review.md (what users are told), not from the code, and
each action is run for real on a copy of a case in each state.
"""

import re
import shutil
from pathlib import Path

import pytest

import ctlabel
from ctlabel.case import reads, review, workflow
from ctlabel.case import record as case_record
from ctlabel.case.accept import accept_by_policy
from ctlabel.errors import StateError

DOCS = Path(__file__).parents[1] / "docs" / "review.md"
OLD = Path(__file__).parent / "data" / "cases" / "v0.2.0"
STATES = ("in_progress", "submitted", "approved", "rejected", "accepted")


def _documented() -> dict[str, tuple[set[str], str]]:
    """``docs/review.md``'s table: action -> (states it may start from, resulting state)."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"^\| `(\w+)`[^|]*\|[^|]*\|([^|]+)\|([^|]+)\|", line)
        if m:
            rows[m.group(1)] = ({s.strip() for s in m.group(2).split(",")}, m.group(3).strip())
    return rows


DOCUMENTED = _documented()
#: The review action functions and the event action each one records.
ACTIONS = {
    "submit": ("submitted", lambda c, labels, grid: review.submit(c, "anna", force=True)),
    "approve": ("approved", lambda c, labels, grid: review.approve(c, "rita")),
    "reject": ("rejected", lambda c, labels, grid: review.reject(c, "rita", "redo slice 4")),
    "correct": ("corrected", lambda c, labels, grid: review.correct(c, labels, grid, "rita")),
    "add_version": ("imported", lambda c, labels, grid: review.add_version(c, labels, grid, "anna")),
    "start_new_draft": ("created", lambda c, labels, grid: review.start_new_draft(c, "anna")),
    "withdraw": ("withdrawn", lambda c, labels, grid: reads.withdraw(c, "anna")),
    "accept_by_policy": ("accepted", lambda c, labels, grid: accept_by_policy(c, "anna", {}, {"accepted": True})),
}


def test_the_documented_table_is_the_code_table():
    assert set(ACTIONS) <= set(DOCUMENTED), DOCUMENTED
    for name, (action, _) in ACTIONS.items():
        starts, result = DOCUMENTED[name]
        assert set(workflow.ALLOWED_FROM[action]) == starts, name
        assert workflow.RESULT[action] == result, name
    assert set(workflow.STATES) == set(STATES)


def _case_in(state: str, tmp_path: Path) -> ctlabel.Case:
    """A copy of the committed approved case, brought into ``state`` by real actions."""
    shutil.copytree(OLD, tmp_path / "cases")
    case = ctlabel.Case.open(tmp_path / "cases" / "phantom_case")
    if state != "approved":
        review.start_new_draft(case, "anna")  # -> in_progress, with a draft
    if state in ("submitted", "rejected", "accepted"):
        review.submit(case, "anna", force=True)
    if state == "accepted":
        accept_by_policy(case, "anna", {}, {"accepted": True})
    if state == "rejected":
        review.reject(case, "rita", "not yet")
    assert case_record.state_of(case) == state
    return case


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_action_from_every_state(name, state, tmp_path):
    case = _case_in(state, tmp_path)
    action, run = ACTIONS[name]
    latest = case.load_version(case.versions()[-1])
    labels, grid = latest.array.copy(), latest.grid
    labels[10, 5:8, 5:8] = 1  # a change, for the actions that freeze a mask
    starts, result = DOCUMENTED[name]
    if state == "rejected" and name == "submit":
        review.save_draft(case, labels, grid, "anna")  # a rejected case is resubmitted from a new draft
        state = "in_progress"
    before_events = len(case_record.history(case))
    before_versions = case.versions()
    if name == "start_new_draft" and state == "in_progress":
        draft = case.draft_path.read_bytes()
        run(case, labels, grid)  # a draft is open already: it is kept, never replaced
        assert case.draft_path.read_bytes() == draft and len(case_record.history(case)) == before_events
    elif state in starts:
        run(case, labels, grid)
        assert case_record.state_of(case) == result
        events = case_record.history(case)
        assert events[-1]["Action"] == action and len(events) == before_events + 1
    else:
        record_bytes = case.record_path.read_bytes()
        with pytest.raises(StateError, match=f"it is {state}"):
            run(case, labels, grid)
        assert case.record_path.read_bytes() == record_bytes  # a refused action changes nothing
        assert case.versions() == before_versions
