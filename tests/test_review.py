"""Case record: states, transitions, versions, hash chain and verify."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ctlabel import Case
from ctlabel.case import access as case_access
from ctlabel.case import qa_gate, workflow
from ctlabel.case import record as case_record
from ctlabel.case import review as rv
from ctlabel.case import verify as case_verify
from ctlabel.case.lock import acquire_lock
from ctlabel.errors import InputError, LockError, StateError
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.mask import labels_present, save_mask
from ctlabel.io.provenance import sidecar_path


@pytest.fixture
def case(tmp_path):
    vol, mask, table = make_phantom(shape=(16, 40, 40), spacing=(2.5, 2.0, 2.0))
    c = Case.create(tmp_path / "case", vol, label_table=table)
    c.save_draft(mask, vol.grid, annotator="ann", painted={1: [3, 9]}, interpolated={1: [4, 5, 6, 7, 8]})
    return c


def test_submit_freezes_draft_as_version(case):
    assert case_record.state_of(case) == "in_progress"
    n = rv.submit(case, "ann")
    assert n == 1 and case.versions() == [1]
    assert not case.draft_path.exists()
    rec = case_record.load_record(case)
    assert rec["State"] == "submitted"
    ev = rec["Events"][-1]
    assert (ev["Who"], ev["Role"], ev["Action"], ev["Version"]) == ("ann", "annotator", "submitted", "v001")
    assert ev["VoxelSHA256"] == case.load_version(1).voxel_hash
    assert ev["When"].endswith("Z")
    prov = case_record.version_provenance(case, 1)
    assert prov.version == "v001" and prov.events[-1].action == "submitted"
    assert case.load_version(1).painted[1] == [3, 9]
    assert case_verify.verify_case(case).ok


def test_cannot_approve_or_reject_never_submitted(case):
    with pytest.raises(StateError, match="never submitted"):
        rv.approve(case, "rev")
    with pytest.raises(StateError, match="never submitted"):
        rv.reject(case, "rev", "bad")
    assert case_record.load_record(case)["Events"] == []


def test_reject_needs_comment_and_annotator_cannot_self_approve(case):
    rv.submit(case, "ann")
    with pytest.raises(InputError, match="comment"):
        rv.reject(case, "rev", "  ")
    with pytest.raises(StateError, match="cannot also approve"):
        rv.approve(case, "ann")
    rv.reject(case, "rev", "liver leaks into the kidney on slice 7")
    rec = case_record.load_record(case)
    assert rec["State"] == "rejected" and rec["Comment"].startswith("liver leaks")
    assert rec["Events"][-1]["Comment"].startswith("liver leaks")
    with pytest.raises(StateError):
        rv.reject(case, "rev", "again")
    with pytest.raises(StateError):
        rv.approve(case, "rev")


def test_approved_is_frozen_and_edit_makes_new_draft(case):
    rv.submit(case, "ann")
    rv.approve(case, "rev")
    assert case_record.state_of(case) == "approved"
    with pytest.raises(StateError, match="already approved"):
        rv.approve(case, "rev")
    with pytest.raises(StateError, match="new draft"):
        rv.submit(case, "ann")
    v1 = case.load_version(1)
    draft = rv.start_new_draft(case, "ann")
    assert draft is not None and np.array_equal(draft.array, v1.array)
    assert case_record.state_of(case) == "in_progress"
    arr = draft.array.copy()
    arr[8, 20, 20] = 5
    case.save_draft(arr, draft.grid, annotator="ann")
    assert rv.submit(case, "ann") == 2
    assert np.array_equal(case.load_version(1).array, v1.array)  # v1 untouched
    assert case_verify.verify_case(case).ok


def test_rejected_then_resubmitted(case):
    rv.submit(case, "ann")
    rv.reject(case, "rev", "fix the spine")
    rv.start_new_draft(case, "ann")
    assert rv.submit(case, "ann") == 2
    rv.approve(case, "rev")
    assert case_record.load_record(case)["ApprovedVersion"] == "v002"


def test_reviewer_correction_is_a_new_version(case):
    rv.submit(case, "ann")
    v1 = case.load_version(1)
    fixed = v1.array.copy()
    fixed[fixed == 5] = 0
    n = rv.correct(case, fixed, v1.grid, "rev", comment="lesion was a vessel")
    assert n == 2 and case_record.state_of(case) == "submitted"
    ev = case_record.load_record(case)["Events"][-1]
    assert (ev["Action"], ev["Role"], ev["Version"], ev["CorrectedFrom"]) == ("corrected", "reviewer", "v002", "v001")
    prov = case_record.version_provenance(case, 2)
    assert prov.extra["Role"] == "reviewer" and 5 in {int(k) for k in prov.labels}  # lesion slices touched
    rv.approve(case, "rev")  # a reviewer may approve the correction
    assert case_record.status(case).approved_version == "v002"


def test_correct_refused_while_annotator_edits(case):
    with pytest.raises(StateError):
        rv.correct(case, np.zeros(case.image_grid().shape, np.uint8), case.image_grid(), "rev")


def test_submit_without_draft(case):
    rv.submit(case, "ann")
    rv.reject(case, "rev", "redo")
    with pytest.raises(StateError, match="nothing to submit"):
        rv.submit(case, "ann")


def test_chain_links_every_event(case):
    rv.submit(case, "ann")
    rv.reject(case, "rev", "x")
    rv.start_new_draft(case, "ann")
    rv.submit(case, "ann")
    rv.approve(case, "rev")
    rec = case_record.load_record(case)
    evs = rec["Events"]
    assert evs[0]["PreviousEventSHA256"] == rec["ImageVoxelSHA256"]
    for a, b in zip(evs, evs[1:]):
        assert b["PreviousEventSHA256"] == case_record.event_hash(a)
    assert rec["HeadEventSHA256"] == case_record.event_hash(evs[-1])


def test_mask_edited_outside_tool_fails_verify(case):
    rv.submit(case, "ann")
    v1 = case.load_version(1)
    # Rewrite v001 with one voxel changed, as another tool (nibabel) would.
    import nibabel as nib

    p = case.version_path(1)
    img = nib.load(p)
    data = np.asanyarray(img.dataobj).copy()
    data[10, 10, 5] = 3
    nib.save(nib.Nifti1Image(data, img.affine, img.header), p)
    rep = case_verify.verify_case(case)
    assert not rep.ok
    msgs = " ".join(p.message for p in rep.problems)
    assert "v001" in msgs and "sidecar" in msgs and "no longer matches event" in msgs
    # and the workflow refuses to approve it
    with pytest.raises(Exception, match="changed after it was frozen"):
        rv.approve(case, "rev")
    del v1


def test_resaved_with_matching_sidecar_still_fails_verify(case):
    """Rewriting the version and its sidecar consistently is caught by the case record."""
    rv.submit(case, "ann")
    v1 = case.load_version(1)
    arr = v1.array.copy()
    arr[arr == 4] = 0
    save_mask(case.version_path(1), arr, v1.grid)
    rep = case_verify.verify_case(case)
    assert not rep.ok and any("no longer matches event" in p.message for p in rep.problems)


def test_event_tampering_fails_verify(case):
    rv.submit(case, "ann")
    rv.reject(case, "rev", "bad")
    rec = json.loads(case.record_path.read_text())
    rec["Events"][0]["Who"] = "someone_else"
    case.record_path.write_text(json.dumps(rec))
    rep = case_verify.verify_case(case)
    assert not rep.ok and any(p.what == "event" and p.event_index == 1 for p in rep.problems)


def test_truncated_log_fails_verify(case):
    rv.submit(case, "ann")
    rv.reject(case, "rev", "bad")
    rec = json.loads(case.record_path.read_text())
    rec["Events"].pop()
    case.record_path.write_text(json.dumps(rec))
    assert not case_verify.verify_case(case).ok


def test_version_added_outside_tool_fails_verify(case):
    rv.submit(case, "ann")
    v1 = case.load_version(1)
    save_mask(case.version_path(2), v1.array, v1.grid)
    rep = case_verify.verify_case(case)
    assert any("not in the case record" in p.message for p in rep.problems)


def test_draft_edited_outside_is_a_warning(case):
    d = case.load_draft()
    import nibabel as nib

    img = nib.load(case.draft_path)
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0] = 1
    nib.save(nib.Nifti1Image(data, img.affine, img.header), case.draft_path)
    rep = case_verify.verify_case(case)
    assert rep.ok and [p.what for p in rep.problems] == ["draft"]
    with pytest.raises(Exception, match="edited outside"):
        rv.submit(case, "ann")
    del d


def test_changes_need_the_lock(case):
    with acquire_lock(case.root, "alice"):
        with pytest.raises(LockError, match="alice"):
            rv.submit(case, "bob")
    s = case_access.open_case(case.root, "carol")
    try:
        assert not s.read_only
        rv.submit(case, "carol", lock=s.lock)
        other = case_access.open_case(case.root, "dave")
        assert other.read_only and "carol" in other.message
    finally:
        s.close()
    assert case_record.status(case).locked_by is None


def test_log_edit_and_record_is_atomic_json(case):
    rv.log_edit(case, "ann", "painted", Label=1, Slices=[3])
    rv.log_edit(case, "ann", "interpolated", Label=1, Slices=[4, 5])
    rec = json.loads(case.record_path.read_text())
    assert [e["Action"] for e in rec["Events"]] == ["painted", "interpolated"]
    assert rec["Events"][0]["VoxelSHA256"] == case.load_draft().voxel_hash
    assert not list(case.root.glob(".case.json.*"))
    assert case_verify.verify_case(case).ok


def test_two_annotators_versions_side_by_side(case):
    from ctlabel.measure.compare import compare_masks

    v = case.load_draft()
    rv.add_version(case, v.array, v.grid, "ann_a", imported_from={"Path": "a.nii.gz", "Format": "nifti"})
    other = v.array.copy()
    other[other == 1] = 0
    rv.add_version(case, other, v.grid, "ann_b", imported_from={"Path": "b.nii.gz", "Format": "nifti"})
    assert case.versions() == [1, 2]
    assert case_record.version_provenance(case, 1).annotator == "ann_a"
    assert case_record.version_provenance(case, 2).annotator == "ann_b"
    res = compare_masks(case.load_version(1), case.load_version(2))
    by = {r.label: r for r in res.rows}
    assert by[1].dice == 0.0 and by[4].dice == 1.0
    assert sidecar_path(case.version_path(2)).exists()


def test_cli_verify_and_workflow(case, tmp_path, capsys):
    from ctlabel.cli.main import main

    assert main(["submit", str(case.root), "--user", "ann"]) == 0
    assert main(["approve", str(case.root), "--user", "ann"]) == 2  # own submission
    assert "cannot also approve" in capsys.readouterr().err
    assert main(["reject", str(case.root), "--user", "rev", "-m", "fix slice 4"]) == 0
    assert main(["approve", str(case.root), "--user", "rev"]) == 2  # rejected, not submitted
    assert main(["review-status", "--json", str(case.root)]) == 0
    capsys.readouterr()
    assert main(["verify", str(case.root)]) == 0
    assert "OK" in capsys.readouterr().out
    # a second, untouched case verified together with a tampered one: exit 1, the bad one named
    import shutil

    other = tmp_path / "other"
    shutil.copytree(case.root, other)
    import nibabel as nib

    p = case.version_path(1)
    img = nib.load(p)
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(data, img.affine, img.header), p)
    assert main(["verify", "--json", str(case.root), str(other)]) == 1
    d = json.loads(capsys.readouterr().out)
    assert [c["ok"] for c in d["cases"]] == [False, True]
    assert any("v001" in p["message"] for p in d["cases"][0]["problems"])
    assert main(["verify", str(tmp_path / "missing")]) == 2


def test_diff_overlay():
    from ctlabel.measure.compare import diff_overlay, diff_summary

    a = np.zeros((4, 5, 5), np.uint8)
    b = a.copy()
    a[1, 1, 1] = 1
    b[2, 2, 2] = 2
    a[3, 3, 3], b[3, 3, 3] = 1, 2
    ov = diff_overlay(a, b)
    assert ov[1, 1, 1] == 2 and ov[2, 2, 2] == 1 and ov[3, 3, 3] == 3 and ov.sum() == 6
    assert diff_summary(ov) == {"added": 1, "removed": 1, "relabelled": 1, "slices": [1, 2, 3]}


def test_slice_sources_and_describe(case):
    d = case.load_draft()
    src = case_record.slice_sources(d)
    assert src[3]["painted"] == [1] and src[5]["interpolated"] == [1]
    rv.submit(case, "ann")
    rv.reject(case, "rev", "needs work")
    text = case_record.describe_event(case_record.history(case)[-1])
    assert "rev (reviewer) rejected v001: needs work" in text


def test_new_draft_when_an_editor_saved_one_already(case):
    rv.submit(case, "ann")
    rv.approve(case, "rev")
    v1 = case.load_version(1)
    case.save_draft(v1.array, v1.grid, annotator="ann")  # an editor wrote a draft directly
    rv.start_new_draft(case, "ann")
    assert case_record.state_of(case) == "in_progress"
    assert case_record.history(case)[-1]["Action"] == "created"
    assert rv.submit(case, "ann") == 2
    assert case_verify.verify_case(case).ok


# --------------------------------------------------------------------------
# Never lose an annotator's work: QA gate on submit, no save while submitted,
# erased labels. On the real Philips 5 mm head CT (sample_data/philips_ct_5mm).
# --------------------------------------------------------------------------

SAMPLE_5MM = Path(__file__).resolve().parents[1] / "sample_data" / "philips_ct_5mm"


@pytest.fixture(scope="module")
def philips_volume():
    from ctlabel import load_series

    return load_series(SAMPLE_5MM)


@pytest.fixture
def real_case(tmp_path, philips_volume):
    return Case.create(tmp_path / "real", philips_volume)


def _body_disc(vol, z: int, radius: int = 20) -> np.ndarray:
    """A disc of tissue (HU above -200) around the point deepest inside the body on slice ``z``."""
    from scipy import ndimage

    body = vol.array[z] > -200
    depth = ndimage.distance_transform_edt(body)
    r0, c0 = np.unravel_index(int(np.argmax(depth)), body.shape)
    rr, cc = np.ogrid[: body.shape[0], : body.shape[1]]
    disc = ((rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2) & body
    assert disc.sum() > radius**2  # the image really has tissue there
    return disc


def _draft_with_unknown_label(case: Case, vol) -> tuple[np.ndarray, int]:
    """A draft painted inside the body, plus a label value that the case's table lacks (a QA error)."""
    table = case.load_labels()
    known = table.indices[0]
    unknown = max(table.indices) + 1
    labels = np.zeros(vol.array.shape, np.uint8)
    for z in (10, 14):
        labels[z][_body_disc(vol, z)] = known
    labels[12][_body_disc(vol, 12, 5)] = unknown
    case.save_draft(labels, vol.grid, annotator="ann", painted={known: [10, 14], unknown: [12]})
    return labels, unknown


def test_submit_refuses_qa_errors_unless_forced(real_case, philips_volume):
    labels, unknown = _draft_with_unknown_label(real_case, philips_volume)
    expected = [f for f in qa_gate.submission_qa(real_case) if f.level == "error"]
    assert [(f.check, f.label) for f in expected] == [("unknown_label", unknown)]
    with pytest.raises(StateError, match="unknown_label") as err:
        rv.submit(real_case, "ann")
    assert f"label {unknown}" in str(err.value) and "force" in str(err.value)
    # nothing changed: still in progress, the draft kept, no version, no event
    assert case_record.state_of(real_case) == workflow.IN_PROGRESS and real_case.versions() == []
    np.testing.assert_array_equal(real_case.load_draft().array, labels)
    assert case_record.history(real_case) == []

    assert rv.submit(real_case, "ann", force=True) == 1
    ev = case_record.history(real_case)[-1]
    assert ev["Action"] == "submitted" and ev["Forced"] is True
    assert [(q["check"], q["label"], q["slice"]) for q in ev["QAErrors"]] == \
        [(f.check, f.label, f.slice) for f in expected]
    assert case_record.version_provenance(real_case, 1).events[-1].extra["Forced"] is True
    assert case_verify.verify_case(real_case).ok


def test_clean_submit_records_no_force(real_case, philips_volume):
    known = real_case.load_labels().indices[0]
    labels = np.zeros(philips_volume.array.shape, np.uint8)
    labels[10][_body_disc(philips_volume, 10)] = known
    real_case.save_draft(labels, philips_volume.grid, annotator="ann", painted={known: [10]})
    assert not [f for f in qa_gate.submission_qa(real_case) if f.level == "error"]
    assert rv.submit(real_case, "ann") == 1
    assert "Forced" not in case_record.history(real_case)[-1]


def test_save_draft_refused_while_submitted(real_case, philips_volume):
    known = real_case.load_labels().indices[0]
    labels = np.zeros(philips_volume.array.shape, np.uint8)
    labels[10][_body_disc(philips_volume, 10)] = known
    rv.save_draft(real_case, labels, philips_volume.grid, "ann", annotator="ann", painted={known: [10]})
    assert [e["Action"] for e in case_record.history(real_case)] == ["saved"]
    rv.submit(real_case, "ann")
    frozen = real_case.load_version(1).voxel_hash
    later = labels.copy()
    later[11][_body_disc(philips_volume, 11)] = known
    with pytest.raises(StateError, match="awaits review"):
        rv.save_draft(real_case, later, philips_volume.grid, "ann", painted={known: [10, 11]})
    assert not real_case.draft_path.exists()  # nothing written beside the submitted version
    assert real_case.load_version(1).voxel_hash == frozen
    assert [e["Action"] for e in case_record.history(real_case)] == ["saved", "submitted"]
    # once rejected, the same save starts a new draft and the case is in progress again
    rv.reject(real_case, "rev", "slice 11 is missing")
    rv.save_draft(real_case, later, philips_volume.grid, "ann", painted={known: [10, 11]})
    assert case_record.state_of(real_case) == workflow.IN_PROGRESS
    np.testing.assert_array_equal(real_case.load_draft().array, later)
    assert [e["Action"] for e in case_record.history(real_case)][-2:] == ["created", "saved"]
    assert case_verify.verify_case(real_case).ok


def test_erased_label_is_saved_absent_without_slices(real_case, philips_volume):
    """A label painted and then erased to zero voxels is not painted any more."""
    from ctlabel.model import SliceEdits
    from ctlabel.qa import check_mask

    table = real_case.load_labels()
    kept, erased = table.indices[0], table.indices[1]
    labels = np.zeros(philips_volume.array.shape, np.uint8)
    labels[10][_body_disc(philips_volume, 10)] = kept
    # what an editor tracked: both labels touched; the erased one painted on 12-13, filled on 11
    edits = SliceEdits({kept: [10], erased: [12, 13]}, {}, {erased: [11]}).for_present(labels_present(labels))
    assert (edits.painted, edits.interpolated) == ({kept: (10,), erased: ()}, {erased: ()})
    record = real_case.save_draft(labels, philips_volume.grid, edits=edits).to_dict()  # the sidecar as written
    assert record["Labels"][str(kept)]["PaintedSlices"] == [10] and record["Labels"][str(kept)]["Present"]
    gone = record["Labels"][str(erased)]
    assert (gone["Present"], gone["PaintedSlices"], gone["InterpolatedSlices"]) == (False, [], [])
    draft = real_case.load_draft()
    assert draft.painted == {kept: [10]} and draft.interpolated == {}
    # QA still says the label was emptied (a warning), but names no painted slice of it
    empty = [f for f in check_mask(draft, philips_volume, table) if f.check == "empty_label"]
    assert [(f.label, f.level, f.slice) for f in empty] == [(erased, "warning", None)]


def test_reviewer_correcting_a_label_away_does_not_paint_it(real_case, philips_volume):
    table = real_case.load_labels()
    a, b = table.indices[0], table.indices[1]
    labels = np.zeros(philips_volume.array.shape, np.uint8)
    labels[10][_body_disc(philips_volume, 10)] = a
    labels[14][_body_disc(philips_volume, 14, 8)] = b
    real_case.save_draft(labels, philips_volume.grid, painted={a: [10], b: [14]})
    rv.submit(real_case, "ann")
    corrected = np.where(labels == b, 0, labels).astype(np.uint8)
    rv.correct(real_case, corrected, philips_volume.grid, "rev")
    v2 = real_case.load_version(2)
    assert v2.painted == {a: [10]}
    assert v2.provenance.labels[str(b)]["Present"] is False


def test_cli_submit_needs_force_for_qa_errors(real_case, philips_volume, capsys):
    from ctlabel.cli.main import main

    _, unknown = _draft_with_unknown_label(real_case, philips_volume)
    assert main(["submit", str(real_case.root), "--user", "ann"]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "unknown_label" in text and f"label {unknown}" in text and "--force" in text
    assert case_record.state_of(real_case) == workflow.IN_PROGRESS and real_case.draft_path.exists()
    assert main(["submit", str(real_case.root), "--user", "ann", "--force"]) == 0
    out = capsys.readouterr().out
    assert "unknown_label" in out and "v001" in out
    assert case_record.history(real_case)[-1]["Forced"] is True


def test_cli_submit_prints_qa_warnings(real_case, philips_volume, capsys):
    from ctlabel.cli.main import main

    known = real_case.load_labels().indices[0]
    labels = np.zeros(philips_volume.array.shape, np.uint8)
    labels[10][_body_disc(philips_volume, 10)] = known
    disc = _body_disc(philips_volume, 14, 2)
    labels[14][disc] = known  # a tiny separate piece: QA's small_island warning
    real_case.save_draft(labels, philips_volume.grid, annotator="ann", painted={known: [10, 14]})
    warnings = [f for f in qa_gate.submission_qa(real_case) if f.level == "warning"]
    assert warnings and not [f for f in qa_gate.submission_qa(real_case) if f.level == "error"]
    assert main(["submit", str(real_case.root), "--user", "ann"]) == 0
    out = capsys.readouterr().out
    for f in warnings:
        assert f.check in out
    assert "v001" in out
