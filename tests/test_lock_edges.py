"""The case lock's own file, damaged: a pid no process can have, a link where the file should be."""

from __future__ import annotations

import json
import socket

import pytest

from ctlabel import Case
from ctlabel.case.folder import LOCK
from ctlabel.case.lock import acquire_lock, lock_holder
from ctlabel.intake.synthetic import make_phantom


@pytest.fixture
def case(tmp_path):
    vol, mask, table = make_phantom(shape=(6, 16, 16))
    c = Case.create(tmp_path / "case", vol, label_table=table)
    c.save_draft(mask, vol.grid, annotator="ann")
    return c


@pytest.mark.parametrize("pid", [99999999999, 2**63, 4194305])
def test_a_pid_no_process_can_have_is_a_dead_holder(case, pid):
    (case.root / LOCK).write_text(json.dumps({"user": "ann", "host": socket.gethostname(), "pid": pid,
                                              "since": "2026-01-01T00:00:00Z"}))
    lock = acquire_lock(case.root, "rev")  # was OverflowError from os.kill
    assert lock_holder(case.root).user == "rev"
    lock.release()


def test_a_dangling_link_in_place_of_the_lock_is_set_aside(case, tmp_path):
    (case.root / LOCK).symlink_to(tmp_path / "nowhere.lock")
    lock = acquire_lock(case.root, "rev")  # was "the lock changed hands" for ever
    assert lock_holder(case.root).user == "rev" and not (case.root / LOCK).is_symlink()
    assert [p.name for p in case.root.glob(f"{LOCK}.link.*")], "the link is kept aside, not deleted"
    lock.release()
    assert lock_holder(case.root) is None
