"""Tamper evidence for the whole case: each kind of edit that verify used to miss is now caught."""

import json
import shutil

import numpy as np
import pytest
from data_paths import PHILIPS_5MM

import ctlabel
from ctlabel.case import integrity as case_integrity
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case import verify as case_verify
from ctlabel.case.folder import Case
from ctlabel.io.labels import Label
from ctlabel.io.provenance import sidecar_path


def _approved_case(root_parent):
    rep = ctlabel.convert([PHILIPS_5MM], root_parent, progress=False)
    case = Case.open(rep.converted[0]["case"])
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[10:14, 200:260, 200:260] = 1
    review.save_draft(case, labels, grid, "ann", painted={1: [10, 13]}, annotator="ann")
    review.submit(case, "ann", force=True)
    return case


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """An approved case, with the record copy taken right after its submit."""
    parent = tmp_path_factory.mktemp("cases")
    case = _approved_case(parent)
    after_submit = case.record_path.read_text()
    review.approve(case, "rev", comment="fine")
    assert case_verify.verify_case(case).ok
    return case, after_submit


@pytest.fixture()
def case(pristine, tmp_path):
    src, after_submit = pristine
    parent = tmp_path / "cases"
    shutil.copytree(src.root.parent, parent)
    c = Case(parent / src.root.name)
    (parent / "after_submit.json").write_text(after_submit)
    return c


def _errors(case):
    return [p for p in case_verify.verify_case(case).problems if p.level == "error"]


def _edit_json(path, change):
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d, indent=2))


@pytest.mark.parametrize("field,value", [
    ("Annotator", "someone_else"),
    ("Labels", {"1": {"PaintedSlices": [10, 11, 12, 13], "InterpolatedSlices": []}}),
    ("Events", []),
])
def test_an_edited_version_sidecar_is_caught(case, field, value):
    _edit_json(sidecar_path(case.version_path(1)), lambda d: d.__setitem__(field, value))
    assert any("v001_dseg.json was changed" in p.message for p in _errors(case))


def test_a_deleted_version_sidecar_is_caught(case):
    sidecar_path(case.version_path(1)).unlink()
    assert any("v001_dseg.json is missing" in p.message for p in _errors(case))


def test_a_record_rolled_back_to_its_copy_after_submit_is_caught(case):
    case.record_path.write_text((case.root.parent / "after_submit.json").read_text())  # the approval gone
    assert case_record.state_of(case) == "submitted"
    assert any(p.what == "rollback" for p in _errors(case))


def test_the_last_event_dropped_with_a_consistent_head_is_caught(case):
    def drop(d):
        d["Events"].pop()
        d["HeadEventSHA256"] = case_record.event_hash(d["Events"][-1])
        d["State"] = "submitted"
        d["ApprovedVersion"] = None
    _edit_json(case.record_path, drop)
    assert any(p.what == "rollback" for p in _errors(case))


@pytest.mark.parametrize("field,value", [("ApprovedVersion", None), ("ApprovedVersion", "v002"),
                                         ("Comment", "approved without reading")])
def test_summary_fields_are_checked_against_the_events(case, field, value):
    _edit_json(case.record_path, lambda d: d.__setitem__(field, value))
    assert any(field in p.message for p in _errors(case))


def test_an_edited_image_sidecar_is_caught(case):
    _edit_json(case.image_sidecar, lambda d: d["Source"].__setitem__("SeriesDescription", "other"))
    assert any("ct.json was changed" in p.message for p in _errors(case))


def test_a_label_renamed_in_the_table_is_caught_and_a_recorded_change_is_not(case):
    text = case.labels_path.read_text()
    first = ctlabel.default_label_table()[1].name
    case.labels_path.write_text(text.replace(first, "renamed", 1))
    assert any("labels.tsv was changed" in p.message for p in _errors(case))
    case.labels_path.write_text(text)
    assert not _errors(case)
    table = case.load_labels().with_label(Label(20, "cyst", "CYS", "#00ff00", "fluid"))
    review.save_label_table(case, table, "lead")
    assert not _errors(case)


def test_without_the_heads_log_rollback_is_not_checkable(case):
    (case.root.parent / case_integrity.HEADS_LOG).unlink()
    rep = case_verify.verify_case(case)
    assert rep.ok and any("rollback not checkable" in p.message for p in rep.problems)


def test_records_written_before_vouching_still_verify(tmp_path, monkeypatch):
    monkeypatch.setattr(case_integrity, "vouched_files", lambda case, ev: {})
    monkeypatch.setattr(case_integrity, "append_head", lambda *a: None)
    case = _approved_case(tmp_path / "old")
    assert not any("Files" in ev for ev in case_record.load_record(case)["Events"])
    monkeypatch.undo()
    rep = case_verify.verify_case(case)
    assert rep.ok, rep.problems
    _edit_json(case.record_path, lambda d: d.__setitem__("State", "approved"))  # the old rules still hold
    assert not case_verify.verify_case(case).ok
