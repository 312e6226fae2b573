"""Never lose an annotator's work: Ctrl+S, read-only while submitted, QA at submit,
erased labels, the label selected on reopen, and the first window.

On the real Philips 5 mm head CT in ``sample_data/philips_ct_5mm`` (a case is made from it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ctlabel.case import record as case_record
from ctlabel.case import review, workflow
from ctlabel.case.folder import Case
from ctlabel.model import SliceEdits

SAMPLE_5MM = Path(__file__).resolve().parents[2] / "sample_data" / "philips_ct_5mm"


@pytest.fixture(scope="module")
def volume():
    from ctlabel import load_series

    return load_series(SAMPLE_5MM)


@pytest.fixture
def case(tmp_path, volume):
    return Case.create(tmp_path / "case", volume)


def _centre(volume, z: int) -> tuple[int, int]:
    """The point deepest inside the head on slice ``z``."""
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(volume.array[z] > -200)
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return int(r), int(c)


def _open(make_napari_viewer, case, show=False):
    viewer = make_napari_viewer(show=show)
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    assert widget.session is not None and widget.session.case is not None
    return viewer, widget


def _paint(viewer, layer, volume, z: int, label: int, size: int = 30) -> None:
    viewer.dims.set_current_step(0, z)
    layer.brush_size = size
    layer.paint((z, *_centre(volume, z)), label)


def _ctrl_s(qtbot, viewer) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    window = viewer.window._qt_window
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_s_saves_the_case_draft(make_napari_viewer, case, volume, qtbot, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    opened = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: opened.append(a[2:3]) or ("", ""))
    viewer, widget = _open(make_napari_viewer, case, show=True)
    layer = widget.session.layer
    label = case.load_labels().indices[0]
    _paint(viewer, layer, volume, 12, label)
    assert not case.draft_path.exists()
    _ctrl_s(qtbot, viewer)
    assert not opened  # napari's "Save selected layers" dialog did not open
    draft = case.load_draft()
    np.testing.assert_array_equal(draft.array, np.asarray(layer.data))
    assert draft.painted == {label: [12]}
    assert [e["Action"] for e in case_record.history(case)] == ["saved"]
    assert "Saved" in widget.status.text()
    # with no layer selected (napari's save action then has nothing to save) Ctrl+S still saves the case
    _paint(viewer, layer, volume, 14, label)
    viewer.layers.selection.clear()
    _ctrl_s(qtbot, viewer)
    assert not opened and case.load_draft().painted == {label: [12, 14]}
    widget.close_sessions()
    # no case open in the labeling widget: Ctrl+S says why it cannot save (never napari's dialog, which
    # would write a file without provenance; tests/gui/test_save_shortcut.py has Save as case)
    from ctlabel_napari import _case_ui

    explained = []
    monkeypatch.setattr(_case_ui, "explain_no_save", lambda parent, reason: explained.append(reason))
    viewer.layers.clear()
    viewer.add_image(np.asarray(volume.array[:2]), name="plain")
    _ctrl_s(qtbot, viewer)
    assert not opened and explained and "no ctlabel labels layer" in explained[0]


def test_submitted_case_is_read_only_and_shows_state_and_comment(make_napari_viewer, case, volume, qtbot):
    viewer, widget = _open(make_napari_viewer, case)
    layer = widget.session.layer
    label = case.load_labels().indices[0]
    _paint(viewer, layer, volume, 10, label)
    assert widget.submit() == 1
    assert not layer.editable  # awaiting review: no edit can be stranded
    assert not widget.save_button.isEnabled() and not widget.interpolate_button.isEnabled()
    assert "submitted" in widget.case_label.text() and not widget.case_label.isHidden()
    widget._guard(widget.save)()  # even if called, the core refuses and nothing is written
    assert "awaits review" in widget.status.text() and not case.draft_path.exists()
    widget.close_sessions()

    review.reject(case, "dr-rev", "the lesion on slice 10 is missing")
    viewer2, widget2 = _open(make_napari_viewer, case)
    header = widget2.case_label.text()
    assert "rejected" in header and "the lesion on slice 10 is missing" in header and "dr-rev" in header
    assert widget2.session.layer.editable and widget2.save_button.isEnabled()
    widget2.close_sessions()

    # a case opened while it awaits review is read-only from the start
    review.save_draft(case, np.asarray(case.load_version(1).array), case.image_grid(), "ann")
    review.submit(case, "ann")
    viewer3, widget3 = _open(make_napari_viewer, case)
    assert not widget3.session.layer.editable and "submitted" in widget3.case_label.text()
    widget3.close_sessions()


def test_submit_shows_qa_errors_and_asks(make_napari_viewer, case, volume, monkeypatch):
    from ctlabel_napari import _case_ui

    viewer, widget = _open(make_napari_viewer, case)
    layer = widget.session.layer
    table = case.load_labels()
    _paint(viewer, layer, volume, 10, table.indices[0])
    unknown = max(table.indices) + 1
    _paint(viewer, layer, volume, 12, unknown, size=6)  # a value the label table lacks: QA error
    asked = []

    def answer(value):
        def ask(parent, findings, jump=None):
            asked.append(findings)
            return value
        return ask

    monkeypatch.setattr(_case_ui, "ask_submit_despite_qa", answer(False))
    assert widget.submit() is None
    assert [(f.check, f.label) for f in asked[-1] if f.level == "error"] == [("unknown_label", unknown)]
    assert case_record.state_of(case) == workflow.IN_PROGRESS and case.versions() == []
    assert "Not submitted" in widget.status.text() and layer.editable
    assert case.load_draft() is not None  # the work is saved all the same

    monkeypatch.setattr(_case_ui, "ask_submit_despite_qa", answer(True))
    assert widget.submit() == 1
    ev = case_record.history(case)[-1]
    assert ev["Action"] == "submitted" and ev["Forced"] is True
    assert [q["check"] for q in ev["QAErrors"]] == ["unknown_label"]
    assert not layer.editable
    widget.close_sessions()


def test_napari_writer_follows_the_review_rules(make_napari_viewer, case, volume):
    """File > Save Selected Layers into the case saves the draft under the open session's lock,
    and is refused while the case awaits review."""
    from ctlabel.errors import StateError
    from ctlabel_napari._writer import save_labels_layer

    viewer, widget = _open(make_napari_viewer, case)
    layer = widget.session.layer
    label = case.load_labels().indices[0]
    _paint(viewer, layer, volume, 10, label)
    save_labels_layer(case.root, layer.data, {"metadata": layer.metadata})  # the widget holds the lock
    assert case.load_draft().painted == {label: [10]}
    assert [e["Action"] for e in case_record.history(case)] == ["saved"]
    widget.submit()
    with pytest.raises(StateError, match="awaits review"):
        save_labels_layer(case.draft_path, layer.data, {"metadata": layer.metadata})
    assert not case.draft_path.exists() and case.versions() == [1]
    widget.close_sessions()


def test_napari_writer_without_a_session_takes_the_lock_itself(case, volume):
    """With no session of this process on the case, the writer saves through review.save_draft,
    which takes the case lock for the save (refused while somebody else holds it) and records the event."""
    from ctlabel.case.lock import acquire_lock
    from ctlabel.errors import LockError
    from ctlabel_napari._layers import labels_layer_data
    from ctlabel_napari._writer import save_labels_layer

    label = case.load_labels().indices[0]
    labels = np.zeros(volume.array.shape, np.uint8)
    r, c = _centre(volume, 9)
    labels[9, r - 3:r + 3, c - 3:c + 3] = label
    _, kwargs, _ = labels_layer_data(labels, case.image_grid(), "x", table=case.load_labels(), case=case.root)
    kwargs["metadata"]["ctlabel"]["edits"] = SliceEdits({label: [9]})
    with acquire_lock(case.root, "somebody-else"):
        with pytest.raises(LockError):
            save_labels_layer(case.root, labels, kwargs)
    assert not case.draft_path.exists()
    save_labels_layer(case.root, labels, kwargs)
    assert case.load_draft().painted == {label: [9]}
    assert [e["Action"] for e in case_record.history(case)] == ["saved"]
    assert not case.lock_path.exists()


def test_erased_label_is_saved_not_present(make_napari_viewer, case, volume):
    viewer, widget = _open(make_napari_viewer, case)
    layer = widget.session.layer
    table = case.load_labels()
    kept, erased = table.indices[0], table.indices[1]
    _paint(viewer, layer, volume, 10, kept)
    _paint(viewer, layer, volume, 14, erased)
    _paint(viewer, layer, volume, 14, 0)  # the eraser: the same stroke with label 0
    assert not (np.asarray(layer.data) == erased).any()
    widget.save()
    rec = json.loads(case.draft_path.with_name("draft_dseg.json").read_text())
    gone = rec["Labels"][str(erased)]
    assert (gone["Present"], gone["PaintedSlices"], gone["InterpolatedSlices"]) == (False, [], [])
    assert rec["Labels"][str(kept)]["PaintedSlices"] == [10]
    widget.close_sessions()


def test_reopen_selects_a_label_present_in_the_draft(make_napari_viewer, case, volume):
    table = case.load_labels()
    only = table.indices[2]
    labels = np.zeros(volume.array.shape, np.uint8)
    r, c = _centre(volume, 8)
    labels[8, r - 5:r + 5, c - 5:c + 5] = only
    case.save_draft(labels, volume.grid, annotator="ann", painted={only: [8]})
    viewer, widget = _open(make_napari_viewer, case)
    assert widget.session.layer.selected_label == only
    widget.close_sessions()


def _fully_visible(canvas_hw, centre, zoom, extent, displayed) -> bool:
    """The extent on the displayed axes lies within what a canvas of ``canvas_hw`` pixels shows."""
    half = np.asarray(canvas_hw, float) / 2 / zoom
    centre = np.asarray(centre, float)[-2:]
    lo, hi = np.asarray(extent, float)[:, list(displayed)]
    return bool(np.all(lo >= centre - half - 1e-6) and np.all(hi <= centre + half + 1e-6))


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="xvfb-run is needed for a screen of its own")
def test_first_window_is_large_with_the_slice_in_view(tmp_path, make_napari_viewer):
    """``ctlabel view`` on a 1920x1080 screen: at least 1280x800, the whole first slice in view, no browser."""
    # make_napari_viewer only marks this a GUI test; the viewer runs in a child with its own X screen
    env = dict(os.environ, NAPARI_CONFIG=str(tmp_path / "napari.yaml"), CTLABEL_CONFIG_DIR=str(tmp_path / "cfg"))
    env.pop("DISPLAY", None)
    child = Path(__file__).with_name("_launch_child.py")
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", sys.executable, str(child)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    from ctlabel_napari.launch import MIN_SIZE

    assert MIN_SIZE[0] >= 1280 and MIN_SIZE[1] >= 800
    assert out["window"][0] >= MIN_SIZE[0] and out["window"][1] >= MIN_SIZE[1], out["window"]
    assert _fully_visible(out["canvas"], out["center"], out["zoom"], out["extent"], out["displayed"]), out
    assert any("Labeling" in d for d in out["docks"]) and not any("Series browser" in d for d in out["docks"])


def test_series_browser_docks_only_for_a_dicom_folder(make_napari_viewer, monkeypatch, case):
    import napari

    from ctlabel_napari.launch import make_viewer

    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)
    viewer, widget = make_viewer(case.root, show=False)
    assert not any("Series browser" in d for d in viewer.window._wrapped_dock_widgets)
    canvas = viewer.window._qt_viewer.canvas.native
    assert _fully_visible((canvas.height(), canvas.width()), viewer.camera.center, viewer.camera.zoom,
                          viewer.layers[0].extent.world, viewer.dims.displayed)
    widget.close_sessions()

    viewer2, widget2 = make_viewer(SAMPLE_5MM, show=False)
    assert any("Series browser" in d for d in viewer2.window._wrapped_dock_widgets)
    widget2.close_sessions()
