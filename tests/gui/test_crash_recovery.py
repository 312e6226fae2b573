"""Kill a real napari process while it edits a case; reopening the case restores the autosaved strokes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ctlabel.case.folder import Case
from ctlabel.case.recovery import DEFAULT_INTERVAL_S, autosave_interval, pending_recovery
from ctlabel.intake.synthetic import make_phantom

#: Interval used in this test (s); the mechanism is the same as with the default.
INTERVAL_S = 1.5
#: Allowance for the journal write itself and for the event loop to run the timer.
WRITE_SLACK_S = 1.0


def test_default_interval_is_at_most_30_s(monkeypatch):
    monkeypatch.delenv("CTLABEL_AUTOSAVE_S", raising=False)
    assert autosave_interval() <= 30 and DEFAULT_INTERVAL_S <= 30


@pytest.mark.slow
def test_kill_during_editing_then_restore(make_napari_viewer, tmp_path):
    volume, _, table = make_phantom()
    case = Case.create(tmp_path / "case", volume, label_table=table)
    log = tmp_path / "strokes.log"
    env = dict(os.environ, CTLABEL_AUTOSAVE_S=str(INTERVAL_S), CTLABEL_ANNOTATOR="crash-tester")
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_crash_child.py")), str(case.root),
                              str(log)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            strokes = [ln for ln in lines if not ln.startswith("ready")]
            if len(strokes) >= 30:
                break
            if child.poll() is not None:
                pytest.fail(f"the napari child exited early: {child.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        else:
            pytest.fail("the napari child made too few strokes in 90 s")
        kill_time = time.time()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    strokes = []
    for ln in log.read_text().splitlines():
        if ln.startswith("ready"):
            continue
        i, t, z, y, x = ln.split()
        strokes.append((int(i), float(t), int(z), int(y), int(x)))
    old = [s for s in strokes if s[1] < kill_time - INTERVAL_S - WRITE_SLACK_S]
    assert len(old) >= 10
    assert case.lock_path.exists()  # the killed process never released its lock
    assert pending_recovery(case) is not None

    # Reopen the case: the widget offers to restore; say yes.
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    asked = []
    widget.confirm_restore = lambda record: asked.append(record) or True
    viewer.open(str(case.root), plugin="ctlabel")
    assert len(asked) == 1 and asked[0]["Annotator"] == "crash-tester"
    session = widget.session
    assert not session.read_only  # the dead process's lock was taken over
    data = np.asarray(session.layer.data)
    missing = [s for s in old if data[s[2], s[3], s[4]] != 1]
    assert not missing, f"{len(missing)} of {len(old)} strokes older than the interval were lost"
    painted = session.tracker.painted()[1]
    assert all(s[2] in painted for s in old)
    widget.close_sessions()
