"""Cases written by older versions still open, verify, review and edit (issue 10: files stay compatible)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import ctlabel
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case.editing import EditingSession
from ctlabel.case.verify import verify_case
from ctlabel.errors import StateError
from ctlabel.io.provenance import validate

OLD = Path(__file__).parent / "data" / "cases" / "v0.2.0"


@pytest.fixture()
def old_case(tmp_path):
    """A copy of the case made by ctlabel 0.2.0, with the heads log beside it."""
    shutil.copytree(OLD, tmp_path / "cases")
    return ctlabel.Case.open(tmp_path / "cases" / "phantom_case")


def test_the_committed_old_case_is_untouched_and_verifies():
    case = ctlabel.Case.open(OLD / "phantom_case")
    report = verify_case(case)
    # its heads log predates the chained lines: readable, with that one warning
    [unchained] = report.problems
    assert report.ok and unchained.what == "heads log" and "are unchained" in unchained.message, report.to_dict()
    assert report.versions == 2 and report.events >= 6
    record = case_record.load_record(case)
    assert record["State"] == "approved" and record["ApprovedVersion"] == "v002"
    assert [e["Action"] for e in record["Events"] if e["Action"] in ("submitted", "rejected", "approved")] == [
        "submitted", "rejected", "submitted", "approved"]
    assert any(e.get("Comment") == "extend to slice 9" for e in record["Events"])


def test_old_versions_load_with_their_slices_and_valid_provenance(old_case):
    v1, v2 = old_case.load_version(1), old_case.load_version(2)
    old_case.image_grid().require_match(v1.grid, "v001", old_case.root)
    old_case.image_grid().require_match(v2.grid, "v002", old_case.root)
    assert {k: list(v) for k, v in v1.painted.items()} and all(list(v) == [2, 5, 8] for v in v1.painted.values())
    assert all(9 in v for v in v2.painted.values())
    assert v1.hash_matches and v2.hash_matches
    validate(v2.provenance.to_dict())
    assert (v2.array[9] > 0).any() and not (v1.array[9] > 0).any()


def test_an_old_approved_case_is_edited_submitted_and_approved_with_the_current_code(old_case):
    with EditingSession.open(old_case.root, "anna") as s:
        assert s.editable and s.state == "approved"
        label = int(np.unique(s.labels[s.labels > 0])[0])
        s.labels[10, 12:20, 12:20] = label
        s.record_edit("paint", {label: {10}}, axis=0)
        s.save()
        assert s.state == "in_progress"
        number = s.submit(force=True)
    assert number == 3
    review.approve(old_case, "rita")
    report = verify_case(old_case)
    assert report.ok, report.to_dict()
    history = case_record.history(old_case)
    assert history[-1]["Action"] == "approved" and history[-1]["Version"] == "v003"


def test_an_old_approved_case_refuses_a_second_approval(old_case):
    before = old_case.record_path.read_bytes()
    with pytest.raises(StateError, match="already approved"):
        review.approve(old_case, "rita")
    assert old_case.record_path.read_bytes() == before
