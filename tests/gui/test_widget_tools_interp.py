"""Image-aware interpolation in the labeling widget (real napari): shape-only at once, refined in a worker,
the same undo step; the checkbox turns it off. On the test data's CTA T12 vertebra (contrast: bone)."""

from __future__ import annotations

import numpy as np
import pytest

from ctlabel import interpolate_with_report

from ._anatomy import CTA, mask, open_case

LABEL = 11  # vertebrae in the default label table


@pytest.fixture(scope="module")
def t12():
    return mask(CTA, "vertebrae_T12")


def _paint_every(layer, region: np.ndarray, step: int) -> list[int]:
    """Paint ``region`` on every ``step``-th slice of its extent (and its last), one undo item each."""
    zs = np.flatnonzero(region.any(axis=(1, 2)))
    painted = sorted({*range(int(zs[0]), int(zs[-1]) + 1, step), int(zs[-1])})
    for z in painted:
        idx = np.nonzero(region[z])
        layer.data_setitem((np.full(idx[0].size, z), *idx), LABEL)
    return painted


def test_default_is_image_aware_refined_in_a_worker_as_the_same_undo_step(make_napari_viewer, qtbot, tmp_path, t12):
    viewer = make_napari_viewer()
    widget, layer, ct = open_case(viewer, tmp_path / "case", CTA)
    assert widget.image_aware_check.isChecked()  # the default
    layer.selected_label = LABEL
    painted = _paint_every(layer, t12, 6)  # 9 mm at 1.5 mm
    session = widget.session
    assert session.tracker.painted() == {LABEL: painted}
    before = np.array(layer.data)
    shape = interpolate_with_report(before, {LABEL: painted}, spacing=session.core.spacing)
    image = interpolate_with_report(before, {LABEL: painted}, spacing=session.core.spacing, image=ct)
    assert image.refined[LABEL], "T12 on the CTA is refined by the image (tests/test_interpolate_image.py)"
    assert not np.array_equal(image.labels, shape.labels)
    history = len(layer._undo_history)

    report = widget.interpolate(all_labels=False)
    # at once: the shape-only result, one undo item, the worker still running
    assert report.pending and report == shape.filled and report.refined == {}
    np.testing.assert_array_equal(layer.data, shape.labels)
    assert len(layer._undo_history) == history + 1
    qtbot.waitUntil(lambda: not report.pending, timeout=30000)

    assert not report.dropped and report.refined == image.refined
    assert set(report.refined[LABEL]) <= set(report[LABEL])
    np.testing.assert_array_equal(layer.data, image.labels)
    assert len(layer._undo_history) == history + 1  # the same undo step
    assert "Image-refined" in widget.status.text()
    assert session.tracker.interpolated() == shape.filled
    assert layer.metadata["ctlabel"]["edits"] == session.tracker.edits()
    assert session.tracker.edits().interpolated == {k: tuple(v) for k, v in shape.filled.items()}
    np.testing.assert_array_equal(session._shadow, layer.data)  # the paint tracking's copy follows

    layer.undo()  # one Ctrl+Z takes the whole interpolation back
    np.testing.assert_array_equal(layer.data, before)
    assert session.tracker.interpolated() == {}
    layer.redo()
    np.testing.assert_array_equal(layer.data, image.labels)
    assert session.tracker.interpolated() == shape.filled


def test_checkbox_off_gives_shape_only(make_napari_viewer, tmp_path, t12):
    viewer = make_napari_viewer()
    widget, layer, _ = open_case(viewer, tmp_path / "case", CTA)
    layer.selected_label = LABEL
    painted = _paint_every(layer, t12, 6)
    before = np.array(layer.data)
    shape = interpolate_with_report(before, {LABEL: painted}, spacing=widget.session.core.spacing)
    widget.image_aware_check.setChecked(False)
    report = widget.interpolate(all_labels=False)
    assert not report.pending and report.refined == {} and widget.interpolation_worker is None
    assert report == shape.filled
    np.testing.assert_array_equal(layer.data, shape.labels)


def test_edit_before_the_refinement_returns_keeps_shape_only(make_napari_viewer, qtbot, tmp_path, t12):
    viewer = make_napari_viewer()
    widget, layer, _ = open_case(viewer, tmp_path / "case", CTA)
    layer.selected_label = LABEL
    painted = _paint_every(layer, t12, 6)
    before = np.array(layer.data)
    report = widget.interpolate(all_labels=False)
    shape_only = np.array(layer.data)
    z = painted[0] + 1
    layer.paint((z, 5, 5), LABEL)  # the annotator goes on painting before the worker is back
    qtbot.waitUntil(lambda: not report.pending, timeout=30000)
    assert report.dropped and report.refined == {}
    assert "dropped" in widget.status.text()
    expected = shape_only.copy()
    layer.undo()
    np.testing.assert_array_equal(layer.data, expected)
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)
