"""Viewing never locks (issue 19, item 2) and the viewer says what it loads (item 8).

- An annotator's ``ctlabel view CASE`` window left open after submit (a real child process)
  does not stop ``ctlabel approve`` / ``ctlabel reject`` (the real CLI, another process); after
  a rejection that window edits again under the lock, and after a reviewer's correction it
  refuses to write over it.
- ``ctlabel view CASE --review`` (the CLI down to its launch function) docks the Review widget
  with the case open; its Approve button records the approval.
- While a series is read, ``Loading <series> ... k/n slices`` shows on the canvas and in the
  status bar, before the image layer exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ctlabel import Case
from ctlabel.case import record as case_record
from ctlabel.case import review as rv
from ctlabel.case import verify as case_verify
from ctlabel.case.lock import lock_holder
from ctlabel.intake.synthetic import make_phantom

pytestmark = pytest.mark.gui

SAMPLE_CT = Path(__file__).resolve().parents[2] / "sample_data" / "totalseg_body_ct" / "dicom"


@pytest.fixture
def draft_case(tmp_path):
    vol, mask, table = make_phantom(shape=(16, 40, 40))
    case = Case.create(tmp_path / "case", vol, label_table=table)
    case.save_draft(mask, vol.grid, annotator="ann1")
    return case


@pytest.fixture
def submitted_case(draft_case):
    rv.submit(draft_case, "ann1", force=True)
    return draft_case


def _ctlabel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctlabel", *args], capture_output=True, text=True, timeout=120)


class _Child:
    """The annotator's viewer in its own process (``_view_child.py``), one JSON line per command."""

    def __init__(self, case: Case, tmp_path: Path) -> None:
        env = dict(os.environ, CTLABEL_CONFIG_DIR=str(tmp_path / "child-config"),
                   NAPARI_CONFIG=str(tmp_path / "napari.yaml"))
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_view_child.py")),
                                      str(case.root)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the viewer child ended: " + self.proc.stderr.read()[-3000:])
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_an_open_viewer_after_submit_does_not_block_approve(make_napari_viewer, draft_case, tmp_path):
    child = _Child(draft_case, tmp_path)
    try:
        first = child.read()
        assert first["submitted"] == 1 and first["state"] == "submitted"
        assert not first["holds_lock"] and first["holder"] is None and not first["editable"]
        r = _ctlabel("approve", str(draft_case.root), "--user", "rev1", "-m", "fine")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "approved v001" in r.stdout
        assert child.ask("status")["state"] == "approved"  # the window is still open
    finally:
        child.close()
    assert child.proc.returncode == 0
    ev = case_record.load_record(draft_case)["Events"][-1]
    assert (ev["Action"], ev["Who"], ev["Version"]) == ("approved", "rev1", "v001")
    assert case_verify.verify_case(draft_case).ok


def test_after_a_reject_the_open_viewer_edits_again_and_never_over_a_correction(make_napari_viewer, draft_case,
                                                                                tmp_path):
    child = _Child(draft_case, tmp_path)
    try:
        assert child.read()["submitted"] == 1
        r = _ctlabel("reject", str(draft_case.root), "--user", "rev1", "-m", "label the spleen")
        assert r.returncode == 0, r.stdout + r.stderr
        edited = child.ask("edit")  # takes the lock back: nothing changed on disk since it loaded
        assert edited["saved"] and edited["holds_lock"] and edited["holder"] == "ann1", edited
        assert edited["state"] == "in_progress" and draft_case.load_draft().array[6, 22, 22] == 2
        again = child.ask("submit")
        assert again["submitted"] == 2 and not again["holds_lock"] and again["holder"] is None

        fixed = np.array(draft_case.load_version(2).array)
        fixed[2, 5, 5] = 7
        rv.correct(draft_case, fixed, draft_case.image_grid(), "rev1")  # v003, made while the window is open
        r = _ctlabel("reject", str(draft_case.root), "--user", "rev1", "-m", "see my correction")
        assert r.returncode == 0, r.stdout + r.stderr
        refused = child.ask("edit")  # the window still shows v002: it must not write over v003
        assert not refused["saved"] and "open it again" in refused["error"], refused
        assert not refused["holds_lock"] and refused["holder"] is None
    finally:
        child.close()
    assert child.proc.returncode == 0
    assert not draft_case.draft_path.exists() and draft_case.versions() == [1, 2, 3]
    assert draft_case.load_version(3).array[2, 5, 5] == 7
    assert case_verify.verify_case(draft_case).ok


def test_view_review_docks_the_case_and_approve_records_it(make_napari_viewer, monkeypatch, submitted_case):
    import napari

    from ctlabel.cli.main import main

    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)
    seen = {}

    def run():  # the event loop: the reviewer looks at the dock and presses Approve
        viewer = napari.current_viewer()
        docks = list(viewer.window._wrapped_dock_widgets)
        _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Review")  # the one docked already
        seen.update(docks=docks, layers=[ly.name for ly in viewer.layers], editable=widget.labels_layer.editable,
                    holder=lock_holder(submitted_case.root), enabled=widget.approve_button.isEnabled())
        widget.reviewer_edit.setText("rev1")
        widget.comment_edit.setText("clean")
        widget.approve_button.click()
        seen["message"] = widget.message.text()

    monkeypatch.setattr(napari, "run", run)
    assert main(["view", str(submitted_case.root), "--review"]) == 0
    assert any("Review" in d for d in seen["docks"]) and not any("Labeling" in d for d in seen["docks"])
    assert any(name.endswith("v001") for name in seen["layers"]) and not seen["editable"]
    assert seen["holder"] is None and seen["enabled"]
    assert seen["message"] == "approved v001"
    rec = case_record.load_record(submitted_case)
    assert rec["State"] == "approved" and rec["ApprovedVersion"] == "v001"
    ev = rec["Events"][-1]
    assert (ev["Action"], ev["Who"], ev["Role"], ev["Comment"]) == ("approved", "rev1", "reviewer", "clean")
    r = _ctlabel("review-status", str(submitted_case.root), "--json")
    assert json.loads(r.stdout)[0]["state"] == "approved"


def test_view_review_refuses_what_is_not_a_case(make_napari_viewer, tmp_path, capsys):
    from ctlabel.cli.main import main

    assert main(["view", str(SAMPLE_CT), "--review"]) == 2
    assert "--review opens a case folder" in capsys.readouterr().err


def test_view_of_a_submitted_case_lets_the_review_dock_decide(make_napari_viewer, monkeypatch, submitted_case):
    """``ctlabel view CASE`` (the labeling widget) then the Review dock in the same window: no layer deleted."""
    import napari

    from ctlabel_napari.launch import make_viewer
    from ctlabel_napari.review_widget import open_review

    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)
    viewer, widget = make_viewer(submitted_case.root, show=False)
    assert widget.session.read_only and lock_holder(submitted_case.root) is None
    review = open_review(viewer, submitted_case.root)
    review.reviewer_edit.setText("rev1")
    review.comment_edit.setText("the spleen is missing")
    n_layers = len(viewer.layers)
    review.reject_button.click()
    assert review.message.text() == "rejected v001" and len(viewer.layers) == n_layers
    assert case_record.state_of(submitted_case) == "rejected"
    widget.close_sessions()


def test_loading_message_with_progress_before_the_image(make_napari_viewer):
    from ctlabel_napari.launch import open_path

    viewer = make_napari_viewer()
    viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    shown: list[tuple[str, int]] = []
    viewer.events.status.connect(lambda ev: shown.append((str(ev.value), len(viewer.layers))))
    open_path(viewer, SAMPLE_CT)
    loading = [(text, n) for text, n in shown if text.startswith("Loading ")]
    assert loading, shown
    assert all(n == 0 for _, n in loading)  # said before the image layer was added
    assert any(text.endswith("/20 slices") for text, _ in loading), loading
    assert loading[-1][0].endswith("20/20 slices")
    overlay = viewer.canvas.overlays.text
    assert not overlay.visible  # gone once the image is there
    assert viewer.layers and viewer.layers[0].data.shape[0] == 20
