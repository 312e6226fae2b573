"""The labeling widget and the review record work together: save, submit, edit after approval."""

import numpy as np

from ctlabel.case import record as case_record
from ctlabel.case import review, workflow
from ctlabel.case import verify as case_verify
from ctlabel.case.folder import Case
from ctlabel.intake.synthetic import make_phantom


def test_save_submit_then_edit_after_approval_makes_a_new_draft(make_napari_viewer, tmp_path):
    volume, _, table = make_phantom(shape=(16, 40, 40))
    case = Case.create(tmp_path / "case", volume, label_table=table)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    layer = widget.session.layer
    layer.paint((3, 20, 20), 1)
    layer.paint((9, 20, 20), 1)
    widget.save()
    assert [e["Action"] for e in case_record.history(case)] == ["saved"]
    assert widget.submit() == 1
    assert case_record.state_of(case) == workflow.SUBMITTED and case.versions() == [1]
    # while it awaits review the annotator cannot save over it
    widget._guard(widget.save)()
    assert "awaits review" in widget.status.text()
    widget.close_sessions()  # releases the lock for the reviewer

    review.approve(case, "dr-review")
    approved = case.load_version(1).voxel_hash

    viewer2 = make_napari_viewer()
    _, widget2 = viewer2.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer2.open(str(case.root), plugin="ctlabel")
    widget2.session.layer.paint((12, 10, 10), 2)
    widget2.save()
    assert case_record.state_of(case) == workflow.IN_PROGRESS
    assert case.load_version(1).voxel_hash == approved  # the approved version stays frozen
    assert np.asarray(case.load_draft().array)[12, 10, 10] == 2
    report = case_verify.verify_case(case)
    assert report.ok, report
    widget2.close_sessions()
