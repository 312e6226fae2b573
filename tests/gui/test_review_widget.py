"""The review widget in a real napari viewer: approve, reject with a comment, correct, QA jumps, changes."""

from __future__ import annotations

import numpy as np
import pytest

from ctlabel import Case
from ctlabel.case import record as case_record
from ctlabel.case import review as rv
from ctlabel.case import verify as case_verify
from ctlabel.case.lock import acquire_lock
from ctlabel.intake.synthetic import make_phantom

pytestmark = pytest.mark.gui


@pytest.fixture
def submitted_case(tmp_path):
    """A phantom case: v001 submitted by 'ann' with a stray island (QA warning) and painted/interpolated slices."""
    vol, mask, table = make_phantom(shape=(20, 48, 48))
    case = Case.create(tmp_path / "case", vol, label_table=table)
    arr = mask.copy()
    arr[3, 2:4, 2:4] = 4  # a small spine island on air
    ks = [int(k) for k in np.flatnonzero((mask == 1).any(axis=(1, 2)))]
    case.save_draft(arr, vol.grid, annotator="ann", painted={1: ks[::4]},
                    interpolated={1: [k for k in ks if k not in ks[::4]]})
    rv.submit(case, "ann", force=True)  # it has QA findings for the reviewer on purpose (an error among them)
    return case


def _widget(viewer, case):
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Review")
    widget.reviewer_edit.setText("rev")
    widget.open_case(case.root)
    return widget


def test_open_is_read_only_with_qa_and_provenance(make_napari_viewer, submitted_case):
    viewer = make_napari_viewer()
    w = _widget(viewer, submitted_case)
    assert w.labels_layer is not None and not w.labels_layer.editable and w.read_only
    assert w.labels_layer.name.endswith("v001")
    assert "submitted" in w.state_label.text() and "ann" in w.state_label.text()
    assert "ann (annotator) submitted v001" in w.history.toPlainText()
    assert w.approve_button.isEnabled() and w.reject_button.isEnabled() and not w.save_button.isEnabled()
    # QA lists the island and jumps to it
    i = next(i for i, f in enumerate(w.findings) if f.check == "small_island")
    f = w.jump_to_finding(i)
    assert viewer.dims.current_step[0] == 3 == f.slice
    assert w.slice_list.count() > 0 and "P 1" in w.slice_list.item(0).text()
    assert case_record.status(submitted_case).locked_by is None  # reading does not lock


def test_approve(make_napari_viewer, submitted_case):
    viewer = make_napari_viewer()
    w = _widget(viewer, submitted_case)
    w.approve_button.click()
    rec = case_record.load_record(submitted_case)
    assert rec["State"] == "approved" and rec["ApprovedVersion"] == "v001"
    ev = rec["Events"][-1]
    assert (ev["Who"], ev["Role"], ev["Action"], ev["Version"]) == ("rev", "reviewer", "approved", "v001")
    assert "approved" in w.state_label.text() and not w.approve_button.isEnabled()
    assert case_verify.verify_case(submitted_case).ok


def test_reject_needs_a_comment(make_napari_viewer, submitted_case):
    viewer = make_napari_viewer()
    w = _widget(viewer, submitted_case)
    w.reject_button.click()  # no comment yet: refused, nothing recorded
    assert case_record.state_of(submitted_case) == "submitted" and "comment" in w.message.text()
    w.comment_edit.setText("the liver misses its upper pole")
    w.reject_button.click()
    rec = case_record.load_record(submitted_case)
    assert rec["State"] == "rejected" and rec["Events"][-1]["Comment"] == "the liver misses its upper pole"
    assert "upper pole" in w.state_label.text() and "upper pole" in w.history.toPlainText()


def test_correct_saves_reviewer_version_and_shows_changes(make_napari_viewer, submitted_case):
    viewer = make_napari_viewer()
    w = _widget(viewer, submitted_case)
    with acquire_lock(submitted_case.root, "someone"):
        assert not w.start_correction()
        assert "someone" in w.message.text() and not w.labels_layer.editable
    assert w.start_correction() and w.labels_layer.editable and not w.approve_button.isEnabled()
    data = w.labels_layer.data
    data[3, 2:4, 2:4] = 0  # remove the island
    data[10, 20:22, 20:22] = 5
    w.labels_layer.data = data
    n = w.save_correction()
    assert n == 2 and submitted_case.versions() == [1, 2]
    ev = case_record.load_record(submitted_case)["Events"][-1]
    assert (ev["Action"], ev["Role"], ev["Who"], ev["CorrectedFrom"]) == ("corrected", "reviewer", "rev", "v001")
    assert case_record.status(submitted_case).locked_by is None and not w.labels_layer.editable  # lock released
    assert w.labels_layer.name.endswith("v002")
    summary = w.show_changes("v001", "v002")
    assert summary["removed"] == 4 and summary["added"] + summary["relabelled"] == 4
    assert summary["slices"] == [3, 10]
    ov = w.diff_layer.data
    assert ov[3, 2, 2] == 2 and ov[10, 20, 20] in (1, 3)
    assert not any(f.check == "small_island" and f.slice == 3 for f in w.findings)  # QA of the correction
    w.approve_button.click()
    assert case_record.load_record(submitted_case)["ApprovedVersion"] == "v002"
