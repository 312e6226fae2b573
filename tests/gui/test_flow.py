"""The annotator's flow in a real napari viewer: open, paint, interpolate, save, reload."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctlabel.case.folder import Case

from .conftest import PHILIPS  # noqa: F401


def _widgets(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    _, browser = viewer.window.add_plugin_dock_widget("ctlabel", "Series browser")
    return widget, browser


def _labels(viewer):
    from napari.layers import Labels

    return [ly for ly in viewer.layers if isinstance(ly, Labels)]


def _open_28(viewer, philips):
    """Open the Philips folder through the reader; the series browser lists it; open the 5 mm series."""
    widget, browser = _widgets(viewer)
    viewer.open(str(philips), plugin="ctlabel")
    assert browser.result is not None
    kinds = [s.kind for s in browser.rows]
    assert "localizer" not in kinds and "secondary" not in kinds
    stack = next(s for s in browser.rows if s.n_slices == 28)
    browser.open_stack(stack)
    return widget, browser


def test_series_browser_lists_and_hides(make_napari_viewer, philips):
    viewer = make_napari_viewer()
    widget, browser = _widgets(viewer)
    viewer.open(str(philips), plugin="ctlabel")
    assert len(viewer.layers) == 0  # several series: nothing guessed
    shown = {(s.kind, s.n_slices) for s in browser.rows}
    assert ("volume", 28) in shown and ("volume", 140) in shown
    assert all(s.kind in ("volume", "single") for s in browser.rows)
    browser.show_all.setChecked(True)
    assert any(s.kind == "localizer" for s in browser.rows)
    assert any(s.kind == "secondary" for s in browser.rows)
    # description, slices, size, spacing and warnings are all columns
    headers = [browser.table.horizontalHeaderItem(c).text() for c in range(browser.table.columnCount())]
    assert headers == ["#", "Kind", "Description", "Slices", "Size", "Spacing (mm)", "Warnings"]
    browser.show_all.setChecked(False)
    stack = next(s for s in browser.rows if s.n_slices == 28)
    row = browser.rows.index(stack)
    assert browser.table.item(row, 2).text() == "STD BRAIN 5MM"
    browser.table.selectRow(row)
    layers = browser.open_selected()
    assert [ly.name for ly in layers] == ["STD BRAIN 5MM", "STD BRAIN 5MM labels"]
    image = layers[0]
    np.testing.assert_allclose(image.scale, (5.0, 0.451, 0.451), atol=1e-3)
    assert image.data.dtype in (np.int16, np.float32) and image.data.min() < -500  # HU
    np.testing.assert_allclose(layers[1].scale, image.scale)


def test_window_presets(make_napari_viewer, philips):
    viewer = make_napari_viewer()
    widget, _ = _open_28(viewer, philips)
    image = widget.image_layer()
    expected = {"soft tissue": (-160, 240), "lung": (-1350, 150), "bone": (-500, 1300),
                "brain": (0, 80), "liver": (15, 165)}
    for name, limits in expected.items():
        widget.window_buttons[name].click()
        assert tuple(image.contrast_limits) == pytest.approx(limits)
    # the same through the keyboard shortcut handlers bound on the viewer
    from ctlabel_napari.widget import WINDOWS

    keys = {WINDOWS[n][2] for n in WINDOWS}
    assert keys == {"F1", "F2", "F3", "F4", "F5"}
    assert not any(k in "1234567" for k in keys)


def test_paint_interpolate_save_reload(make_napari_viewer, philips, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget, _ = _open_28(viewer, philips)
    layer = _labels(viewer)[-1]
    session = widget.session
    assert session.layer is layer
    layer.selected_label = 1
    layer.brush_size = 60
    layer.mode = "paint"
    # Paint on two slices through the layer so napari's paint events fire.
    viewer.dims.set_current_step(0, 8)
    layer.paint((8, 250, 250), 1)
    viewer.dims.set_current_step(0, 16)
    layer.paint_polygon([(16, 200, 200), (16, 200, 320), (16, 320, 320), (16, 320, 200)], 1)
    assert session.tracker.painted() == {1: [8, 16]}
    assert session.fallback_used == 0

    # Interpolate: one undo step.
    filled = widget.interpolate(all_labels=False)
    assert filled == {1: list(range(9, 16))}
    assert all(layer.data[z].any() for z in range(9, 16))
    assert layer.metadata["ctlabel"]["edits"].interpolated == {1: tuple(range(9, 16))}
    layer.undo()
    assert not any(layer.data[z].any() for z in range(9, 16))
    assert session.tracker.interpolated() == {}
    layer.redo()
    assert all(layer.data[z].any() for z in range(9, 16))
    assert session.tracker.interpolated() == {1: list(range(9, 16))}

    # Painting on a filled slice makes it painted.
    viewer.dims.set_current_step(0, 12)
    layer.paint((12, 100, 100), 1)
    assert session.tracker.painted() == {1: [8, 12, 16]}
    assert 12 not in session.tracker.interpolated()[1]

    # Navigation
    viewer.dims.set_current_step(0, 0)
    assert widget.navigate("next_painted") == 8
    assert widget.navigate("next_painted") == 12
    assert widget.navigate("previous_painted") == 8
    assert widget.navigate("next_gap") == 9

    # Save as a case, then reload that case through the reader.
    case_root = tmp_path / "case"
    assert session.editing is None  # no case yet: the core keeps the edits without one
    widget.save_as_case(case_root)
    assert Case.is_case(case_root)
    assert session.editing is not None and layer.data is session.editing.labels
    saved = np.array(layer.data)
    record = json.loads((case_root / "masks" / "draft_dseg.json").read_text())
    assert record["Annotator"] == "test-annotator"
    assert record["Labels"]["1"]["PaintedSlices"] == [8, 12, 16]
    assert record["Labels"]["1"]["InterpolatedSlices"] == [9, 10, 11, 13, 14, 15]
    assert [e["Action"] for e in record["Events"]] == ["painted", "interpolated", "saved"]
    assert not (case_root / "masks" / "recovery" / "journal.json").exists()

    # Screenshot of the viewer with its widgets is not blank.
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot.shape[0] > 200 and shot.shape[1] > 200
    assert shot[..., :3].std() > 10
    assert len(np.unique(shot[..., :3].reshape(-1, 3), axis=0)) > 50

    widget.close_sessions()
    viewer.layers.clear()
    viewer.open(str(case_root), plugin="ctlabel")
    back = _labels(viewer)[-1]
    np.testing.assert_array_equal(np.asarray(back.data), saved)
    meta = back.metadata["ctlabel"]
    assert meta["edits"].painted == {1: (8, 12, 16)}
    assert meta["edits"].interpolated == {1: (9, 10, 11, 13, 14, 15)}
    assert meta["provenance"].annotator == "test-annotator"
    # the label table and its colours came back
    assert back.colormap.map(np.array([1]))[0][:3] == pytest.approx(
        Case.open(case_root).load_labels()[1].rgba()[:3], abs=1 / 255)
