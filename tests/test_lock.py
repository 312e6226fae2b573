"""The case lock under real competition between processes."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from ctlabel import Case
from ctlabel.case import access as case_access
from ctlabel.case import review as rv
from ctlabel.case import verify as case_verify
from ctlabel.case.lock import acquire_lock, lock_holder
from ctlabel.errors import LockError
from ctlabel.intake.synthetic import make_phantom


@pytest.fixture
def case(tmp_path):
    vol, mask, table = make_phantom(shape=(8, 24, 24))
    c = Case.create(tmp_path / "case", vol, label_table=table)
    c.save_draft(mask, vol.grid, annotator="ann")
    return c


def _compete(root: str, user: str, barrier, results, hold_s: float) -> None:
    barrier.wait(timeout=30)
    try:
        lock = acquire_lock(root, user)
    except LockError as exc:
        session = case_access.open_case(root, user)  # what a viewer does: open read-only with a message
        results.put((user, "refused", str(exc), session.read_only, session.message))
        return
    results.put((user, "locked", "", False, ""))
    time.sleep(hold_s)
    lock.release()


def _submit(root: str, user: str, barrier, results) -> None:
    barrier.wait(timeout=30)
    try:
        n = rv.submit(Case.open(root), user)
        results.put((user, "submitted", n))
    except Exception as exc:  # noqa: BLE001 - report any refusal to the parent
        results.put((user, type(exc).__name__, str(exc)))


def _run(target, args_for):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a[:2], barrier, results, *a[2:])) for a in args_for]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out


def test_two_processes_one_lock(case):
    out = _run(_compete, [(str(case.root), "alice", 1.5), (str(case.root), "bob", 1.5)])
    won = [r for r in out if r[1] == "locked"]
    lost = [r for r in out if r[1] == "refused"]
    assert len(won) == 1 and len(lost) == 1
    winner = won[0][0]
    assert f"being edited by {winner}" in lost[0][2]
    assert lost[0][3] is True and winner in lost[0][4]  # read-only session saying who holds it
    assert lock_holder(case.root) is None  # released


def test_two_processes_submit_once(case):
    out = _run(_submit, [(str(case.root), "alice"), (str(case.root), "bob")])
    ok = [r for r in out if r[1] == "submitted"]
    assert len(ok) == 1 and ok[0][2] == 1
    other = [r for r in out if r[1] != "submitted"][0]
    # the loser either found the lock taken or, coming second, the case already submitted
    assert other[1] in ("LockError", "StateError")
    assert case.versions() == [1]
    assert case_verify.verify_case(case).ok


def test_lock_of_dead_process_is_taken_over(case):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_hold_and_die, args=(str(case.root),))
    p.start()
    p.join(timeout=60)
    assert lock_holder(case.root).user == "crashed"
    with acquire_lock(case.root, "carol") as lock:
        assert lock.info.user == "carol"


def _hold_and_die(root: str) -> None:
    acquire_lock(root, "crashed")  # never released: the process exits holding it


def test_lock_file_records_user_and_time(case):
    with acquire_lock(case.root, "dora"):
        h = lock_holder(case.root)
        assert h.user == "dora" and h.since.endswith("Z")
        with pytest.raises(LockError, match="dora"):
            acquire_lock(case.root, "erin")
        s = case_access.open_case(case.root, "erin")
        assert s.read_only and "dora" in s.message
