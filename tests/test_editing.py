"""EditingSession: the editing rules in the core, tested without napari on the real Philips CT."""

import os

import numpy as np
import pytest
from data_paths import PHILIPS_5MM

import ctlabel
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case.editing import EditingSession
from ctlabel.errors import LockError, StateError


@pytest.fixture()
def case_root(tmp_path):
    rep = ctlabel.convert([PHILIPS_5MM], tmp_path / "cases", progress=False)
    return rep.converted[0]["case"]


def _paint(s: EditingSession, label: int, k: int, box=(200, 260)) -> None:
    s.labels[k, box[0]:box[1], box[0]:box[1]] = label
    s.record_edit("paint", {label: {k}}, axis=0)


def test_paint_interpolate_save_and_reopen(case_root):
    with EditingSession.open(case_root, "ann1") as s:
        assert s.editable and s.status().state == "in_progress"
        _paint(s, 1, 10)
        _paint(s, 1, 16, (210, 250))
        filled = s.interpolate()
        assert filled[1] == [11, 12, 13, 14, 15] and s.labels[13].any()
        s.save()
    record = case_record.load_record(ctlabel.Case.open(case_root))
    assert [e["Action"] for e in record["Events"]][-1] == "saved"
    with EditingSession.open(case_root, "ann1") as again:
        assert again.tracker.painted(0) == {1: [10, 16]} and again.tracker.interpolated(0)[1] == list(range(11, 16))
        assert again.labels[13].any()


def test_a_second_editor_gets_a_read_only_session_naming_the_holder(case_root):
    with EditingSession.open(case_root, "ann1"):
        other = EditingSession.open(case_root, "ann2")
        assert other.read_only and "ann1" in other.lock_message
        with pytest.raises(LockError, match="ann1"):
            other.save()


def test_submitted_case_is_not_editable_until_rejected_and_the_comment_shows(case_root):
    with EditingSession.open(case_root, "ann1") as s:
        _paint(s, 1, 10)
        _paint(s, 1, 14)
        s.interpolate()
        assert s.submit(force=True) == 1
        assert s.awaiting_review and not s.editable
        with pytest.raises(StateError, match="awaits review"):
            s.save()
    review.reject(ctlabel.Case.open(case_root), "rev1", "the lower edge is cut")
    with EditingSession.open(case_root, "ann1") as s:
        st = s.status()
        assert st.state == "rejected" and st.comment == "the lower edge is cut" and s.editable
        _paint(s, 1, 15)
        s.save()
        assert s.state == "in_progress"
        assert s.submit(force=True) == 2


def test_qa_errors_block_submit_unless_forced(case_root):
    with EditingSession.open(case_root, "ann1") as s:
        s.labels[10, 0:20, 0:20] = 1  # liver painted on air outside the head
        s.record_edit("paint", {1: {10}}, axis=0)
        s.save()
        assert s.qa_errors()
        with pytest.raises(StateError, match="QA found"):
            s.submit()
        assert s.submit(force=True) == 1


def test_unsaved_edits_survive_a_crash_through_the_journal(case_root):
    pid = os.fork()
    if pid == 0:  # an editor that writes its journal and dies without closing
        s = EditingSession.open(case_root, "ann1")
        _paint(s, 2, 12)
        s.write_journal()
        os._exit(0)
    os.waitpid(pid, 0)
    declined = EditingSession.open(case_root, "ann1")  # no answer: the journal is kept
    assert not declined.labels.any()
    declined.close()
    with EditingSession.open(case_root, "ann1", restore=lambda record: True) as s:
        assert (s.labels[12] == 2).any() and s.tracker.painted(0) == {2: [12]}
        assert s.events[-1]["Action"] == "restored"
        s.save()
    with EditingSession.open(case_root, "ann1", restore=lambda record: pytest.fail("journal not cleared")):
        pass


def test_close_writes_pending_edits_to_the_journal(case_root):
    s = EditingSession.open(case_root, "ann1")
    _paint(s, 3, 20)
    s.close()
    assert s.read_only
    with EditingSession.open(case_root, "ann1", restore=lambda record: True) as again:
        assert (again.labels[20] == 3).any()


def test_edits_without_a_case_then_save_as_case(tmp_path):
    """A series not yet a case: slices, events and interpolation in core Edits; create() makes the case."""
    from ctlabel.case.editing import Edits
    from ctlabel.errors import CaseError, GeometryError
    from ctlabel.intake.synthetic import make_phantom
    from ctlabel.volume import Grid

    volume, _, table = make_phantom(shape=(12, 40, 40))
    edits = Edits(np.zeros(volume.grid.shape, np.uint8), volume.grid, "ann1", table=table)
    assert edits.editable and not edits.read_only and not edits.awaiting_review
    for k, box in ((2, (10, 30)), (8, (14, 26))):
        edits.labels[k, box[0]:box[1], box[0]:box[1]] = 1
        edits.record_edit("paint", {1: {k}}, axis=0)
    result = edits.interpolation([1])
    assert result.filled == {1: [3, 4, 5, 6, 7]} and result.axis == 0
    assert not edits.labels[3:8].any()  # nothing written yet
    result.apply(edits.labels)
    edits.record_edit("fill", result.filled, result.axis)
    edits.mark_interpolated(result.filled)
    assert all(edits.labels[k].any() for k in range(3, 8))
    assert [e["Action"] for e in edits.events] == ["painted", "interpolated"]
    assert edits.provenance().events[-1]["Action"] == "saved" and len(edits.events) == 2

    with pytest.raises(CaseError, match="not open"):
        EditingSession.create(tmp_path / "none", None, edits)
    other = Grid((12, 40, 41), volume.grid.affine)
    with pytest.raises(GeometryError):
        EditingSession.create(tmp_path / "bad", volume, Edits(np.zeros(other.shape, np.uint8), other, "ann1"))
    with EditingSession.create(tmp_path / "case", volume, edits) as s:
        assert s.labels is edits.labels and s.case.draft_path.exists() and not s.dirty
        assert [e["Action"] for e in case_record.load_record(s.case)["Events"]] == ["saved"]
        assert EditingSession.open(s.case.root, "ann2").read_only  # created under its lock
        s.undo()  # the fill, still undoable after the case was made
        assert s.tracker.interpolated(0) == {} and s.dirty
    draft = ctlabel.Case.open(tmp_path / "case").load_draft()
    assert draft.painted == {1: [2, 8]} and draft.interpolated == {1: [3, 4, 5, 6, 7]}
    assert [e.action for e in draft.provenance.events] == ["painted", "interpolated", "saved"]


def test_records_undo_redo_and_amend(case_root):
    with EditingSession.open(case_root, "ann1") as s:
        rec = s.record_edit("paint", {}, axis=0)  # an editor's undo item whose slices come later
        assert rec.slices == {} and s.events == []
        s.labels[7, 200:210, 200:210] = 2
        s.amend_edit(rec, {2: {7}})
        assert s.tracker.painted(0) == {2: [7]} and [e["Action"] for e in s.events] == ["painted"]
        assert s.undo() is rec and s.tracker.painted(0) == {}
        assert s.redo() is rec and s.tracker.painted(0) == {2: [7]}
        assert s.redo() is None


def test_open_edits_the_callers_mask_and_read_only_says_so(case_root):
    with EditingSession.open(case_root, "ann1") as s:
        _paint(s, 1, 10)
        s.save()
    shown = ctlabel.Case.open(case_root).load_draft()  # what an editor read and shows
    with EditingSession.open(case_root, "ann1", start=shown) as s:
        assert s.labels is shown.array and s.tracker.painted(0) == {1: [10]}
        assert s.created == shown.provenance.created
        other = EditingSession.open(case_root, "ann2")
        with pytest.raises(LockError, match="read-only.*ann1"):
            other.interpolation()
