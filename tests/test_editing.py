"""EditingSession: the editing rules in the core, tested without napari on the real Philips CT."""

import os

import pytest
from data_paths import PHILIPS_5MM

import ctlabel
from ctlabel import review
from ctlabel.editing import EditingSession
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
    record = review.load_record(ctlabel.Case.open(case_root))
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
