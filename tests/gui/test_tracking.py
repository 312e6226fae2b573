"""Slice bookkeeping from napari's paint events: both atom forms, the fallback, undo, axes, locks."""

from __future__ import annotations

import numpy as np
import pytest

from ctlabel.case.folder import Case
from ctlabel.case.lock import acquire_lock
from ctlabel.intake.synthetic import make_phantom
from ctlabel_napari import _compat


@pytest.fixture
def phantom_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open_sample("ctlabel", "phantom")
    layer = viewer.layers["phantom labels"]
    viewer.layers.selection.active = layer
    yield viewer, widget, layer
    widget.close_sessions()


def test_masked_atom_path_brush_fill_polygon_eraser(phantom_viewer):
    viewer, widget, layer = phantom_viewer
    session = widget.session
    layer.brush_size = 9
    viewer.dims.set_current_step(0, 10)
    layer.paint((10, 80, 80), 2)
    viewer.dims.set_current_step(0, 20)
    layer.paint_polygon([(20, 60, 60), (20, 60, 90), (20, 90, 90)], 2)
    viewer.dims.set_current_step(0, 30)
    layer.fill((30, 5, 5), 3)  # fill the empty slice with label 3
    assert session.tracker.painted() == {2: [10, 20], 3: [30]}
    # The eraser (label 0) touches the label it removes.
    viewer.dims.set_current_step(0, 10)
    layer.paint((10, 80, 80), 0)
    assert session.tracker.painted()[2] == [10, 20]
    # Undo through napari's key binding handler updates the slices.
    from napari.layers.labels._labels_key_bindings import redo, undo

    undo(layer)  # the erase
    undo(layer)  # the fill
    assert session.tracker.painted() == {2: [10, 20]}
    redo(layer)
    assert session.tracker.painted() == {2: [10, 20], 3: [30]}
    assert session.fallback_used == 0


def test_tuple_atom_path_data_setitem(phantom_viewer):
    viewer, widget, layer = phantom_viewer
    session = widget.session
    idx = (np.array([4, 4, 7]), np.array([10, 11, 12]), np.array([10, 10, 10]))
    layer.data_setitem(idx, 5)
    assert session.tracker.painted() == {5: [4, 7]}
    assert session.fallback_used == 0


def test_fallback_finds_changed_slices(phantom_viewer, monkeypatch, qtbot):
    """An atom of a form the plugin does not know: the slices come from comparing the data."""
    viewer, widget, layer = phantom_viewer
    session = widget.session
    monkeypatch.setattr(_compat, "atom_changes", lambda atom, axis, ndim, slices=True: None)
    viewer.dims.set_current_step(0, 12)
    layer.paint((12, 80, 80), 1)
    viewer.dims.set_current_step(0, 13)
    layer.paint((13, 80, 80), 1)
    qtbot.wait(20)  # the data of a direct paint() call is written after its event
    assert session.tracker.painted() == {1: [12, 13]}
    assert session.fallback_used == 2
    layer.undo()
    assert session.tracker.painted() == {1: [12]}
    # a mouse-like stroke: several writes grouped, one event after the data is written
    viewer.dims.set_current_step(0, 20)
    with layer.block_history():
        layer.paint((20, 50, 50), 3)
        layer.paint((20, 60, 60), 3)
    assert session.tracker.painted() == {1: [12], 3: [20]}


def test_compat_rejects_unknown_atoms():
    assert _compat.atom_changes(object(), 0, 3) is None
    assert _compat.atom_changes(("a", "b"), 0, 3) is None


def test_painting_on_sagittal_view_interpolates_along_columns(phantom_viewer):
    viewer, widget, layer = phantom_viewer
    session = widget.session
    viewer.dims.order = (2, 0, 1)  # show (slice, row) planes: paint on columns
    layer.brush_size = 7
    viewer.dims.set_current_step(2, 60)
    layer.paint((30, 80, 60), 1)
    viewer.dims.set_current_step(2, 70)
    layer.paint((30, 80, 70), 1)
    assert session.tracker.axis == 2 and session.tracker.painted(2) == {1: [60, 70]}
    filled = widget.interpolate(all_labels=False)
    assert filled == {1: list(range(61, 70))}
    assert all(layer.data[:, :, x].any() for x in range(61, 70))
    assert session.provenance_fields().edits.axis == 2


def test_interpolate_all_labels_one_undo_step(phantom_viewer):
    viewer, widget, layer = phantom_viewer
    layer.brush_size = 9
    for lab, (a, b) in {1: (10, 20), 4: (30, 36)}.items():
        for z in (a, b):
            viewer.dims.set_current_step(0, z)
            layer.paint((z, 40 + 30 * lab, 80), lab)
    before = np.array(layer.data)
    filled = widget.interpolate(all_labels=True)
    assert filled == {1: list(range(11, 20)), 4: list(range(31, 36))}
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)
    assert widget.session.tracker.interpolated() == {}


def test_interpolate_needs_two_slices_shows_message(phantom_viewer):
    viewer, widget, layer = phantom_viewer
    layer.paint((30, 80, 80), 1)
    widget.interpolate_button.click()  # a ctlabel error is shown, not raised
    assert "two slices" in widget.status.text()


def test_locked_case_opens_read_only(make_napari_viewer, tmp_path):
    volume, _, table = make_phantom(shape=(10, 32, 32))
    case = Case.create(tmp_path / "case", volume, label_table=table)
    other = acquire_lock(case.root, "somebody-else")
    try:
        viewer = make_napari_viewer()
        _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
        viewer.open(str(case.root), plugin="ctlabel")
        session = widget.session
        assert session.read_only and not session.layer.editable
        assert not widget.interpolate_button.isEnabled() and not widget.save_button.isEnabled()
        widget._guard(widget.save)()
        assert "read-only" in widget.status.text()
        assert not case.draft_path.exists()
        widget.close_sessions()
        assert case.lock_path.exists()  # still theirs
    finally:
        other.release()


def test_annotator_setting_persists(tmp_path, monkeypatch):
    from ctlabel_napari import settings

    monkeypatch.delenv("CTLABEL_ANNOTATOR")
    assert settings.get_annotator() == ""
    settings.set_annotator("dr-who")
    assert settings.get_annotator() == "dr-who"
    assert (tmp_path / "config" / "settings.json").exists()
    monkeypatch.setenv("CTLABEL_ANNOTATOR", "env-wins")
    assert settings.get_annotator() == "env-wins"


def test_label_table_edit_and_save(make_napari_viewer, tmp_path):
    volume, _, table = make_phantom(shape=(10, 32, 32))
    case = Case.create(tmp_path / "case", volume, label_table=table)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    assert widget.table.rowCount() == len(table)
    assert [widget.table.item(r, 1).text() for r in range(len(table))] == [lab.name for lab in table]
    widget.table.item(0, 1).setText("liver_renamed")
    widget.set_label_color(2, "#123456")
    widget.table.selectRow(3)
    assert widget.session.layer.selected_label == table.indices[3]
    widget.save_label_table()
    back = case.load_labels()
    assert back[1].name == "liver_renamed" and back[2].color == "#123456"
    widget.close_sessions()
