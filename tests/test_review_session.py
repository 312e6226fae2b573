"""ReviewSession: what a reviewer does with one case, without a screen (the review widget is a view over it)."""

from __future__ import annotations

import numpy as np
import pytest

from ctlabel import Case, ReviewSession, VersionDiff
from ctlabel.case import record as case_record
from ctlabel.case import review as rv
from ctlabel.case.lock import acquire_lock, lock_holder
from ctlabel.errors import CaseError, InputError, LockError, StateError
from ctlabel.intake.synthetic import make_phantom


@pytest.fixture
def case(tmp_path):
    """A phantom case with a draft by 'ann': label 1 painted on 3 and 9, interpolated between."""
    vol, mask, table = make_phantom(shape=(16, 40, 40), spacing=(2.5, 2.0, 2.0))
    c = Case.create(tmp_path / "case", vol, label_table=table)
    c.save_draft(mask, vol.grid, annotator="ann", painted={1: [3, 9]}, interpolated={1: [4, 5, 6, 7, 8]})
    return c


def test_open_is_read_only_and_reads_the_case(case):
    s = ReviewSession.open(case.root, "rev")
    assert s.read_only and s.message == "read-only" and lock_holder(case.root) is None
    assert s.state() == "in_progress" and s.version_names() == ["draft"]
    number, mask = s.latest()
    assert number is None and mask is not None and mask.path == case.draft_path
    assert not s.allows("approved") and not s.allows("corrected")  # nothing submitted: nothing to decide
    assert s.summary(mask) == "in_progress; latest -; by ann"
    assert s.history_lines() == []
    rows = s.slice_lines(mask)
    assert [k for k, _ in rows] == list(range(3, 10))
    assert rows[0][1] == "slice 3: P 1" and rows[1][1] == "slice 4: I 1"


def test_open_names_who_holds_the_lock(case):
    with acquire_lock(case.root, "alice"):
        s = ReviewSession.open(case.root, "rev")
        assert s.read_only and "alice" in s.message


def test_approve_and_reject_follow_the_table(case):
    rv.submit(case, "ann")
    s = ReviewSession.open(case.root, "rev")
    assert s.version_names() == ["v001"] and s.latest()[0] == 1
    assert s.allows("approved") and s.allows("rejected") and s.allows("corrected")
    with pytest.raises(InputError, match="comment"):
        s.reject("  ")
    with pytest.raises(StateError, match="cannot also approve"):
        s.approve(who="ann")  # the author may not approve their own version
    assert s.reject("liver leaks on slice 7") == 1
    assert s.state() == "rejected" and not s.allows("approved") and s.allows("corrected")
    assert "comment: liver leaks on slice 7" in s.summary()
    lines = s.history_lines()
    assert len(lines) == 2 and "ann (annotator) submitted v001" in lines[0]
    assert "rev (reviewer) rejected v001: liver leaks on slice 7" in lines[1]
    assert lock_holder(case.root) is None  # a decision takes no lasting lock


def test_approve_records_who_and_the_comment(case):
    rv.submit(case, "ann")
    s = ReviewSession.open(case.root, "rev")
    assert s.approve("  ") == 1  # a blank comment is no comment
    rec = case_record.load_record(case)
    assert rec["State"] == "approved" and rec["ApprovedVersion"] == "v001"
    assert rec["Events"][-1]["Who"] == "rev" and "Comment" not in rec["Events"][-1]
    assert s.summary().startswith("approved; latest v001; approved v001")


def test_correction_takes_the_lock_and_saves_a_version(case):
    s = ReviewSession.open(case.root, "rev")
    with pytest.raises(StateError, match="no version to correct"):
        s.start_correction()
    rv.submit(case, "ann")
    with pytest.raises(LockError, match="start a correction"):
        s.correct(case.load_version(1).array, case.image_grid())
    with acquire_lock(case.root, "alice"):
        with pytest.raises(LockError, match="alice"):
            s.start_correction()
        assert s.read_only
    s.start_correction("bob")
    try:
        assert not s.read_only and lock_holder(case.root).user == "bob"
        fixed = case.load_version(1).array.copy()
        fixed[2, 5, 5] = 7
        assert s.correct(fixed, case.image_grid(), "one voxel") == 2
    finally:
        s.close()
    assert s.read_only and lock_holder(case.root) is None
    ev = case_record.load_record(case)["Events"][-1]
    assert (ev["Who"], ev["Action"], ev["CorrectedFrom"], ev["Comment"]) == ("bob", "corrected", "v001", "one voxel")
    assert s.load("v002").array[2, 5, 5] == 7 and s.version_names() == ["v001", "v002"]


def test_correction_refused_while_the_annotator_edits(case):
    rv.submit(case, "ann")
    rv.reject(case, "rev", "redo")
    rv.start_new_draft(case, "ann")
    s = ReviewSession.open(case.root, "rev")
    assert s.state() == "in_progress"
    with pytest.raises(StateError, match="annotator is still editing"):
        s.start_correction()
    assert lock_holder(case.root) is None


def test_load_names_the_versions_it_has(case):
    s = ReviewSession.open(case.root, "rev")
    with pytest.raises(CaseError, match="no version 'v003'; the case has draft"):
        s.load("v003")
    rv.submit(case, "ann")
    with pytest.raises(CaseError, match="no draft"):
        s.load("draft")


def test_findings_are_the_qa_of_the_mask(case):
    s = ReviewSession.open(case.root, "rev")
    _, mask = s.latest()
    arr = mask.array.copy()
    arr[1, 2:4, 2:4] = 4  # a small island of label 4 far from the rest
    case.save_draft(arr, case.image_grid(), annotator="ann")
    _, mask = s.latest()
    found = s.findings(mask)
    assert any(f.check == "small_island" and f.slice == 1 for f in found)
    assert s.findings(mask, case.load_image()) == found  # the image given or read: the same findings


def test_version_diff_between_versions(case):
    rv.submit(case, "ann")
    s = ReviewSession.open(case.root, "rev")
    s.start_correction()
    before = case.load_version(1).array
    fixed = before.copy()
    k = int(np.flatnonzero(before.any(axis=(1, 2)))[0])
    fg = np.argwhere(before[k] > 0)[0]
    fixed[k, fg[0], fg[1]] = 0  # one voxel removed
    fixed[k + 1, 0, 0] = 2  # one added
    s.correct(fixed, case.image_grid())
    s.close()
    d = VersionDiff.between(s, "v001", "v002")
    assert d.overlay[k, fg[0], fg[1]] == VersionDiff.REMOVED and d.overlay[k + 1, 0, 0] == VersionDiff.ADDED
    assert (d.summary["added"], d.summary["removed"], d.summary["relabelled"]) == (1, 1, 0)
    assert d.summary["added_ml"] == pytest.approx(2.5 * 2.0 * 2.0 / 1000, abs=1e-4)
    assert d.slices == [k, k + 1]
    assert d.describe() == f"v001→v002: +1 added, -1 removed, 0 relabelled voxels; slices {k}-{k + 1}"
    same = VersionDiff.between(s, "v002", "v002")
    assert same.describe() == "v002→v002: no change" and not same.overlay.any()
