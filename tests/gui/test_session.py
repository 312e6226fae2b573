"""Autosave in the viewer, the restore question, and `ctlabel view`."""

from __future__ import annotations

import threading

import numpy as np

from ctlabel.case.folder import Case
from ctlabel.case.recovery import journal_exists, pending_recovery, read_journal
from ctlabel.intake.synthetic import make_phantom


def _case(tmp_path):
    volume, _, table = make_phantom(shape=(12, 40, 40))
    return Case.create(tmp_path / "case", volume, label_table=table)


def test_autosave_writes_journal_in_background(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("CTLABEL_AUTOSAVE_S", "0.3")
    case = _case(tmp_path)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    session = widget.session
    assert session.autosave_s == 0.3
    assert session.layer.data is session.editing.labels  # the layer shows the core session's array
    threads = []
    orig = threading.Thread.start

    def spy(self):
        threads.append(self.name)
        return orig(self)

    monkeypatch.setattr(threading.Thread, "start", spy)
    viewer.dims.set_current_step(0, 4)
    session.layer.paint((4, 20, 20), 2)
    qtbot.waitUntil(lambda: session.journal_writes == 1, timeout=5000)
    assert "ctlabel-autosave" in threads
    j = read_journal(case.recovery_dir, case.image_grid())
    assert j.edits.painted == {2: (4,)} and j.annotator == "test-annotator"
    np.testing.assert_array_equal(j.labels, np.asarray(session.layer.data))
    # Saving the draft clears the journal.
    widget.save()
    assert not journal_exists(case.recovery_dir) and case.draft_path.exists()
    widget.close_sessions()
    assert not case.lock_path.exists()


def test_close_writes_pending_edits_and_decline_discards(make_napari_viewer, tmp_path):
    case = _case(tmp_path)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    widget.session.layer.paint((3, 20, 20), 1)
    widget.close_sessions()  # edits not saved: they go to the journal
    assert pending_recovery(case) is not None
    viewer.layers.clear()
    widget.confirm_restore = lambda record: False
    viewer.open(str(case.root), plugin="ctlabel")
    assert not np.asarray(widget.session.layer.data).any()
    assert not journal_exists(case.recovery_dir)
    widget.close_sessions()


def test_restore_marks_event(make_napari_viewer, tmp_path):
    case = _case(tmp_path)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    viewer.dims.set_current_step(0, 3)
    widget.session.layer.paint((3, 20, 20), 1)
    widget.close_sessions()
    viewer.layers.clear()
    widget.confirm_restore = lambda record: True
    viewer.open(str(case.root), plugin="ctlabel")
    s = widget.session
    assert s.tracker.painted() == {1: [3]}
    path = widget.save()
    from ctlabel.io.mask import load_mask

    m = load_mask(path)
    assert [e.action for e in m.provenance.events] == ["painted", "restored", "saved"]
    widget.close_sessions()


def test_ctlabel_view_command(monkeypatch, make_napari_viewer):
    import napari

    # napari's test fixture owns plugin registration: let it make the viewer `ctlabel view` asks for.
    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)
    from ctlabel.cli.main import main

    seen = {}

    def fake_run(*a, **k):
        viewer = napari.current_viewer()
        seen["layers"] = [ly.name for ly in viewer.layers]
        seen["annotator"] = viewer.window._dock_widgets  # docked widgets exist

    monkeypatch.setattr(napari, "run", fake_run)
    assert main(["view", "--annotator", "cli-user"]) == 0
    from ctlabel.dicom.scan import find_series
    from ctlabel_napari._sample_data import sample_ct_path

    name = find_series(sample_ct_path()).stacks[0].description
    assert seen["layers"] == [name, f"{name} labels"]  # the sample CT
    assert any("Labeling" in name for name in seen["annotator"])
