"""Ctrl+S never writes a mask without provenance (issue 19): no case open, it offers Save as case… or says why.

napari's Ctrl+S is *File > Save Selected Layers…*, which with no case opened the file dialog in the
home folder with TIFF as the type. With the labeling widget docked, the real key press on the
canvas saves the case's draft (tests/gui/test_never_lose_work.py), saves a series as a case, or
explains in a message box why nothing can be saved; napari's dialog never opens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SAMPLE_5MM = Path(__file__).resolve().parents[2] / "sample_data" / "philips_ct_5mm"


def _ctrl_s(qtbot, viewer) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    window = viewer.window._qt_window
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


@pytest.fixture
def no_napari_dialog(monkeypatch):
    """Every call of napari's save dialog (QFileDialog.getSaveFileName), answered Cancel."""
    from qtpy.QtWidgets import QFileDialog

    opened: list = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: opened.append(a) or ("", ""))
    return opened


def test_ctrl_s_on_a_series_saves_it_as_a_case(make_napari_viewer, qtbot, tmp_path, monkeypatch, no_napari_dialog):
    from qtpy.QtWidgets import QFileDialog

    from ctlabel.case.folder import Case
    from ctlabel_napari import _case_ui

    folders: list = []
    target = tmp_path / "new_case"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *a, **k: folders.append(a[1:2]) or str(target))
    explained: list = []
    monkeypatch.setattr(_case_ui, "explain_no_save", lambda parent, reason: explained.append(reason))
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(SAMPLE_5MM), plugin="ctlabel")  # a DICOM series: image + labels, no case yet
    session = widget.session
    assert session is not None and session.case is None
    label = session.table.indices[0]
    viewer.dims.set_current_step(0, 12)
    session.layer.brush_size = 20
    session.layer.paint((12, 256, 256), label)

    _ctrl_s(qtbot, viewer)
    assert not no_napari_dialog and not explained
    assert folders == [("New case folder (empty folder)",)]  # the plugin's Save as case… flow
    case = Case(target)
    draft = case.load_draft()
    np.testing.assert_array_equal(draft.array, np.asarray(session.layer.data))
    assert draft.painted == {label: [12]} and draft.provenance.annotator == "test-annotator"
    assert widget.session.case is not None and widget.session.case.root == target

    # painted again, Ctrl+S now saves the case's draft, without asking for a folder
    session.layer.paint((14, 256, 256), label)
    _ctrl_s(qtbot, viewer)
    assert len(folders) == 1 and Case(target).load_draft().painted == {label: [12, 14]}
    assert not no_napari_dialog
    widget.close_sessions()


def test_ctrl_s_without_the_image_or_anything_says_why(make_napari_viewer, qtbot, monkeypatch, no_napari_dialog):
    from qtpy.QtWidgets import QApplication, QFileDialog, QMessageBox

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: pytest.fail("no folder asked"))
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(SAMPLE_5MM), plugin="ctlabel")
    image = next(ly for ly in viewer.layers if ly.metadata.get("ctlabel", {}).get("role") == "image")
    viewer.layers.remove(image)  # the labels alone cannot become a case
    seen: list = []

    def read_and_close() -> None:  # the real message box, read and closed as a person would
        box = next((w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None)
        if box is None:
            from qtpy.QtCore import QTimer

            QTimer.singleShot(50, read_and_close)
            return
        seen.append((box.windowTitle(), box.text()))
        box.accept()

    from qtpy.QtCore import QTimer

    QTimer.singleShot(50, read_and_close)
    _ctrl_s(qtbot, viewer)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen[0][0] == "Nothing to save" and "no image of its grid is open" in seen[0][1]
    assert not no_napari_dialog
    widget.close_sessions()

    viewer.layers.clear()  # nothing open at all
    QTimer.singleShot(50, read_and_close)
    _ctrl_s(qtbot, viewer)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert "no ctlabel labels layer is open" in seen[1][1] and not no_napari_dialog


def test_the_napari_writer_never_writes_a_mask_without_provenance(make_napari_viewer, tmp_path):
    """File > Save Selected Layers with *ctlabel mask*: a plain labels layer is refused; a ctlabel layer is
    written as NIfTI with its sidecar (whatever the name asked for, e.g. a .tif)."""
    from ctlabel import GeometryError, read_sidecar, sidecar_path
    from ctlabel_napari._writer import save_labels_layer, write_labels

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(SAMPLE_5MM), plugin="ctlabel")
    layer = widget.session.layer
    label = widget.session.table.indices[0]
    viewer.dims.set_current_step(0, 5)
    layer.paint((5, 256, 256), label)

    plain = viewer.add_labels(np.zeros((4, 8, 8), np.uint8), name="plain")
    with pytest.raises(GeometryError, match="carries no ctlabel grid"):
        save_labels_layer(tmp_path / "plain.nii.gz", plain.data, {"metadata": plain.metadata})
    assert write_labels(str(tmp_path / "plain2.nii.gz"), plain.data, {"metadata": plain.metadata}) == []
    assert not list(tmp_path.iterdir())  # nothing written

    written = save_labels_layer(tmp_path / "mask.tif", layer.data, {"metadata": layer.metadata})
    assert written.name == "mask.tif.nii.gz" and written.exists()
    prov = read_sidecar(sidecar_path(written))
    assert prov["Annotator"] == "test-annotator" and "saved" in [e["Action"] for e in prov["Events"]]
    assert prov["Labels"][str(label)]["PaintedSlices"] == [5]
    widget.close_sessions()
