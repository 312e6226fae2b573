"""HU-aware painting, region grow and pre-labels in the labeling widget, in a real napari viewer,
on the anatomy CTs of tests/data (TotalSegmentator's example abdominal CT and its CTA)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage as ndi

from ._anatomy import ABDOMEN, CTA, click, deepest, dice, mask, open_case, stroke

VERTEBRAE, AORTA, LIVER, LUNG, BONE = 11, 6, 1, 12, 14  # the default label table
SOFT = ("autochthon_left", "autochthon_right", "iliopsoas_left", "iliopsoas_right", "aorta", "inferior_vena_cava",
        "kidney_left", "kidney_right", "small_bowel", "colon", "duodenum", "pancreas")


@pytest.fixture(scope="module")
def abdomen_masks():
    return mask(ABDOMEN, "vertebrae_L3"), np.logical_or.reduce([mask(ABDOMEN, n) for n in SOFT])


def test_range_limited_stroke_over_bone_paints_no_soft_tissue(make_napari_viewer, MouseEvent, tmp_path,
                                                              abdomen_masks):
    l3, soft = abdomen_masks
    viewer = make_napari_viewer()
    widget, layer, ct = open_case(viewer, tmp_path / "case", ABDOMEN)
    session = widget.session
    z = int(np.argmax(l3.sum(axis=(1, 2))))
    _, r, c = deepest(l3[z][None])
    viewer.dims.set_current_step(0, z)
    layer.selected_label = VERTEBRAE
    layer.mode = "paint"
    layer.brush_size = 24  # 72 mm at 3 mm: well over the vertebra's edge
    path = [(z, r, c - 3), (z, r, c), (z, r, c + 3)]

    # Without a limit the stroke covers muscle and vessels around L3 (what the limit must prevent).
    stroke(layer, MouseEvent, path)
    brush = layer.data == VERTEBRAE
    assert np.count_nonzero(brush & soft) > 50 and np.count_nonzero(brush & (ct < 200)) > 50
    layer.undo()
    assert not layer.data.any()

    widget.hu_range.set_range(200, 3071)  # for the selected label, on
    history = len(layer._undo_history)
    stroke(layer, MouseEvent, path)
    painted = layer.data == VERTEBRAE
    assert painted.any()
    assert not np.any(painted & soft), "the range-limited stroke painted soft tissue"
    # all of the brush's bone, and the background it encloses inside the brush (marrow): no holes
    in_range = brush & (ct >= 200) & (ct <= 3071)
    enclosed = np.stack([ndi.binary_fill_holes(k) for k in in_range]) & brush
    np.testing.assert_array_equal(painted, in_range | enclosed)
    assert np.count_nonzero(painted & l3) > 0.8 * np.count_nonzero(painted)  # it is the vertebra's cortex
    assert len(layer._undo_history) == history + 1  # one undo step
    assert session.tracker.painted() == {VERTEBRAE: [z]} and session.fallback_used == 0
    assert "outside the range left unchanged" in widget.status.text()

    # Fill and polygon are limited too (on other slices).
    layer.fill((z + 2, 5, 5), VERTEBRAE)  # the whole empty slice: only its voxels in range
    np.testing.assert_array_equal(layer.data[z + 2] == VERTEBRAE,
                                  ndi.binary_fill_holes((ct[z + 2] >= 200) & (ct[z + 2] <= 3071)))
    square = [(z - 2, r - 15, c - 15), (z - 2, r - 15, c + 15), (z - 2, r + 15, c + 15), (z - 2, r + 15, c - 15)]
    layer.paint_polygon(square, VERTEBRAE)
    poly = layer.data[z - 2] == VERTEBRAE
    low = poly & (ct[z - 2] < 200)  # painted below the range only where the range's paint encloses it
    assert poly.any() and not (low & ~ndi.binary_fill_holes(poly & (ct[z - 2] >= 200))).any()
    assert session.tracker.painted() == {VERTEBRAE: [z - 2, z, z + 2]}

    # Remembered per label: another label has its own (off); coming back restores 200 … 3071.
    layer.selected_label = LIVER
    assert not widget.hu_range.check.isChecked()
    layer.selected_label = VERTEBRAE
    assert widget.hu_range.check.isChecked()
    assert (widget.hu_range.lo.value(), widget.hu_range.hi.value()) == (200, 3071)

    # Undo takes each limited write back in one step.
    for _ in range(3):
        layer.undo()
    assert not layer.data.any() and session.tracker.painted() == {}


def test_region_grow_preview_then_apply(make_napari_viewer, MouseEvent, tmp_path):
    from ctlabel_napari._region_grow_ui import PREVIEW_NAME

    aorta = mask(CTA, "aorta")
    viewer = make_napari_viewer()
    widget, layer, ct = open_case(viewer, tmp_path / "case", CTA)
    session = widget.session
    # the slice where the aorta's lumen is largest and contrast-filled throughout
    from scipy import ndimage as ndi

    best = None
    for z in np.flatnonzero(aorta.any(axis=(1, 2))):
        lab, n = ndi.label(aorta[z])
        for i in range(1, n + 1):
            piece = lab == i
            if np.percentile(ct[z][piece], 10) >= 300 and (best is None or piece.sum() > best[1].sum()):
                best = (int(z), piece)
    z, lumen = best
    _, r, c = deepest(lumen[None])
    viewer.dims.set_current_step(0, z)
    layer.selected_label = AORTA
    box = widget.region_grow
    box.tolerance.setValue(150)
    layer.mode = "paint"

    box.pick_button.setChecked(True)  # arm the click: the labels layer stops painting
    assert layer.mode == "pan_zoom"
    click(layer, MouseEvent, (z, r, c))
    assert PREVIEW_NAME in viewer.layers and viewer.layers.selection.active is layer
    assert not layer.data.any(), "a preview writes nothing"
    assert dice(box.preview[z], lumen) >= 0.9
    assert box.apply_button.isEnabled()

    history = len(layer._undo_history)
    box.apply_button.click()
    assert PREVIEW_NAME not in viewer.layers and box.preview is None
    assert len(layer._undo_history) == history + 1
    assert dice(layer.data[z] == AORTA, lumen) >= 0.9 and not np.delete(layer.data, z, axis=0).any()
    assert session.tracker.painted() == {AORTA: [z]}
    layer.undo()
    assert not layer.data.any() and session.tracker.painted() == {}

    # 3D: a box of ±15 mm around the click; Cancel drops the preview and writes nothing.
    box.mode.setCurrentIndex(1)
    box.half_size.setValue(15)
    click(layer, MouseEvent, (z, r, c))
    zs = np.flatnonzero(box.preview.any(axis=(1, 2)))
    assert len(zs) > 5 and zs[0] >= z - 10 and zs[-1] <= z + 10  # 15 mm = 10 slices of 1.5 mm
    box.cancel_button.click()
    assert PREVIEW_NAME not in viewer.layers and not layer.data.any()
    box.pick_button.setChecked(False)
    assert layer.mode == "paint"  # back to the tool of before
    assert session.fallback_used == 0


def test_prelabel_action_is_one_undo_step_and_refuses_over_work(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget, layer, _ = open_case(viewer, tmp_path / "case", ABDOMEN)
    session = widget.session
    box = widget.prelabel
    seen: list[float] = []
    box._signals.progress.connect(lambda f, _m: seen.append(f))
    history = len(layer._undo_history)

    worker = box.run(["lungs", "bone"])
    assert worker is not None and box.running and not box.run_button.isEnabled()
    qtbot.waitUntil(lambda: not box.running, timeout=60000)
    assert box.last["labels"] == {LUNG: "lungs", BONE: "bone"}  # every bone goes to bone, none to vertebrae
    assert np.count_nonzero(layer.data == LUNG) > 1000 and np.count_nonzero(layer.data == BONE) > 1000
    assert not np.any(layer.data == VERTEBRAE)
    assert len(layer._undo_history) == history + 1  # one undo step
    assert session.tracker.painted() == {} and session.tracker.interpolated() == {}  # nobody painted them
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert box.run_button.isEnabled() and not box.progress.isVisible()
    prelabelled = np.array(layer.data)

    layer.undo()
    assert not layer.data.any()
    layer.redo()
    np.testing.assert_array_equal(layer.data, prelabelled)

    # Never over an annotator's work: the labels hold voxels now; and a structure needs a label.
    assert box.run(["bone"]) is None
    assert "already hold voxels" in box.last["error"] and "Not pre-labelled" in widget.status.text()
    np.testing.assert_array_equal(layer.data, prelabelled)
    # Only the structures with a label in the table are offered; one without is refused by name.
    from ctlabel import LabelTable

    assert box.offered == ["body", "lungs", "bone", "air"]
    old_table = LabelTable(tuple(lab for lab in session.table if lab.name not in ("body", "bone", "air")))
    box.offer(old_table)
    assert box.offered == ["lungs"] and not box.checks["bone"].isVisible()
    table, session.table = session.table, old_table
    assert box.run(["bone"]) is None and "no 'bone' label" in box.last["error"]
    assert "vertebrae is not bone" in box.last["error"]
    session.table = table
    widget.refresh()
    assert box.offered == ["body", "lungs", "bone", "air"]
    np.testing.assert_array_equal(layer.data, prelabelled)

    widget.save()
    record = json.loads((session.case.draft_path.with_suffix("").with_suffix(".json")).read_text())
    assert any(e.get("Tool") == "ctlabel prelabel" for e in record["Events"])
    assert record["Labels"][str(LUNG)]["PaintedSlices"] == []
    assert record["Labels"][str(BONE)]["Method"]["Kind"] == "automatic"
    assert record["Labels"][str(LUNG)]["Method"]["Name"] == "ctlabel.prelabel.lungs"


def test_hu_guard_spares_the_eraser_and_refuses_without_an_image():
    """The guard alone, on a bare napari layer: the eraser is never limited; no image, no stroke."""
    from napari.layers import Labels

    from ctlabel_napari._hu_range import HURangeGuard

    image = np.full((3, 20, 20), -50, np.int16)
    image[:, :, 10:] = 500  # the right half is "bone"
    layer = Labels(np.zeros((3, 20, 20), np.uint8))
    layer.brush_size = 40
    told: list[str] = []
    shown = {"image": image}
    guard = HURangeGuard(layer, lambda: shown["image"], told.append)
    guard.set(2, 3071, 200, on=True)  # given either way round
    assert guard.range_for(2) == (200, 3071) and guard.range_for(1) is None
    layer.paint((1, 10, 10), 2)
    np.testing.assert_array_equal(layer.data[1] == 2, image[1] >= 200)
    layer.paint((1, 10, 10), 1)  # label 1 has no limit
    assert (layer.data[1] == 1).all()
    layer.paint((1, 10, 10), 0)  # the eraser takes everything off, in range or not
    assert not layer.data.any()
    shown["image"] = None
    layer.paint((2, 10, 10), 2)
    assert not layer.data.any() and "no CT image" in told[-1]
    guard.close()
    layer.paint((2, 10, 10), 2)  # the hook is off: napari's own brush again
    assert (layer.data[2] == 2).all()
