"""Viewing never locks: a submitted case is opened without the edit lock, a submit releases it,
review decisions need no edit lock (a short decision lock keeps two of them apart), and a window
left open after a rejection takes the lock again only when nothing changed on disk."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import numpy as np
import pytest

from ctlabel import Case, EditingSession
from ctlabel.case import record as case_record
from ctlabel.case import review as rv
from ctlabel.case import verify as case_verify
from ctlabel.case.folder import DECISION_LOCK
from ctlabel.case.lock import acquire_lock, decision_lock, lock_holder
from ctlabel.errors import LockError, StateError
from ctlabel.intake.synthetic import make_phantom


@pytest.fixture
def case(tmp_path):
    vol, mask, table = make_phantom(shape=(8, 24, 24))
    c = Case.create(tmp_path / "case", vol, label_table=table)
    c.save_draft(mask, vol.grid, annotator="ann")
    return c


def _submitted(case: Case) -> Case:
    rv.submit(case, "ann", force=True)
    return case


def test_opening_a_submitted_case_takes_no_lock_and_review_goes_on(case):
    _submitted(case)
    with EditingSession.open(case.root, "ann") as session:
        assert session.read_only and session.lock is None and session.lock_message is None
        assert lock_holder(case.root) is None
        assert session.status().locked_by is None and session.status().awaiting_review
        assert rv.approve(case, "rev") == 1  # the annotator's open window does not block the reviewer
    assert case_record.state_of(case) == "approved"
    assert case_verify.verify_case(case).ok


def test_in_progress_and_approved_cases_are_opened_with_the_lock(case):
    with EditingSession.open(case.root, "ann") as session:
        assert not session.read_only and lock_holder(case.root).user == "ann"
    assert lock_holder(case.root) is None
    rv.approve(_submitted(case), "rev")
    with EditingSession.open(case.root, "ann") as session:  # an edit of an approved case starts a new draft
        assert not session.read_only and lock_holder(case.root).user == "ann"


def test_submit_releases_the_lock_at_once_and_the_reviewer_rejects(case):
    session = EditingSession.open(case.root, "ann")
    session.labels[2, 3, 3] = 5
    session.dirty = True
    assert session.submit(force=True) == 1
    assert session.lock is None and lock_holder(case.root) is None and session.read_only
    assert rv.reject(case, "rev", "the spine is missing") == 1  # no LockError while the window is open
    session.close()
    assert case_record.state_of(case) == "rejected"


def test_after_a_reject_the_open_window_edits_again_under_the_lock(case):
    session = EditingSession.open(case.root, "ann")
    session.submit(force=True)
    with pytest.raises(StateError, match="awaits review"):
        session.save()  # still submitted: no lock is taken, nothing is written
    assert lock_holder(case.root) is None and not case.draft_path.exists()
    rv.reject(case, "rev", "label the kidney")
    session.labels[4, 10, 10] = 3
    session.dirty = True
    session.save()  # takes the lock again: the case on disk is still what the window shows
    assert lock_holder(case.root).user == "ann" and not session.read_only
    assert case_record.state_of(case) == "in_progress"
    assert case.load_draft().array[4, 10, 10] == 3
    assert [e["Action"] for e in case_record.history(case)][-2:] == ["created", "saved"]
    session.close()
    assert lock_holder(case.root) is None
    assert case_verify.verify_case(case).ok


def test_a_stale_window_never_overwrites_a_correction(case):
    session = EditingSession.open(case.root, "ann")
    session.submit(force=True)
    corrected = np.array(case.load_version(1).array)
    corrected[1, 1, 1] = 7
    rv.correct(case, corrected, case.image_grid(), "rev")  # v002, made while the window stayed open
    rv.reject(case, "rev", "see my correction, then go on")
    session.labels[4, 10, 10] = 3  # the window still shows v001
    session.dirty = True
    with pytest.raises(StateError, match="open it again"):
        session.save()
    assert session.lock is None and lock_holder(case.root) is None
    assert not case.draft_path.exists() and case.versions() == [1, 2]
    assert case.load_version(2).array[1, 1, 1] == 7
    with EditingSession.open(case.root, "ann") as again:  # opened again: it starts from the correction
        assert again.labels[1, 1, 1] == 7 and not again.read_only


def test_somebody_elses_lock_still_makes_a_window_read_only(case):
    with acquire_lock(case.root, "ann2"):
        session = EditingSession.open(case.root, "ann")
        assert session.read_only and "ann2" in session.lock_message
        session.dirty = True
        with pytest.raises(LockError, match="ann2"):
            session.save()
    session.close()


def test_an_annotators_lock_left_on_a_submitted_case_does_not_block_decisions(case):
    _submitted(case)
    with acquire_lock(case.root, "ann"):  # e.g. a viewer of an older ctlabel left open
        assert rv.reject(case, "rev", "fix the liver") == 1
    assert case_record.state_of(case) == "rejected"
    assert not (case.root / DECISION_LOCK).exists()


def test_a_decision_waits_for_another_decisions_write(case):
    _submitted(case)
    released = []
    holding = threading.Event()

    def hold():
        with decision_lock(case.root, "rev1"):
            holding.set()
            time.sleep(0.5)
            released.append(time.monotonic())

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(5)
    with pytest.raises(LockError, match="rev1"):  # a caller that waits less is told who is deciding
        with decision_lock(case.root, "rev3", wait_s=0.1):
            pass
    assert rv.approve(case, "rev2") == 1  # waits for rev1's write, then decides
    done = time.monotonic()
    t.join()
    assert released and done >= released[0]
    assert case_record.load_record(case)["Events"][-1]["Who"] == "rev2"


def _decide(root: str, user: str, barrier, results) -> None:
    barrier.wait(timeout=30)
    try:
        if user.endswith("a"):
            n = rv.approve(Case.open(root), user)
        else:
            n = rv.reject(Case.open(root), user, "not like this")
        results.put((user, "ok", n))
    except Exception as exc:  # noqa: BLE001 - report any refusal to the parent
        results.put((user, type(exc).__name__, str(exc)))


def test_two_reviewers_deciding_at_once_write_one_decision(case):
    _submitted(case)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_decide, args=(str(case.root), u, barrier, results)) for u in ("reva", "revb")]
    for p in procs:
        p.start()
    out = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    outcomes = [o[1] for o in out]
    assert sorted(outcomes) == ["StateError", "ok"], out
    decisions = [e for e in case_record.history(case) if e["Action"] in ("approved", "rejected")]
    assert len(decisions) == 1
    assert case_verify.verify_case(case).ok
    assert not (case.root / DECISION_LOCK).exists()


def test_an_unreadable_record_still_opens_under_the_lock(case):
    case.record_path.write_text("{ not json", encoding="utf-8")
    with EditingSession.open(case.root, "ann") as session:  # edits go to the journal; a save says why not
        assert not session.read_only and lock_holder(case.root).user == "ann"
        assert session.write_journal() is not None
