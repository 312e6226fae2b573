"""The core behind the widget's tools, without napari: the interpolation job (image-aware, computed
from a copy), pre-label methods that follow undo, and prelabel_volume's progress and refusals."""

import json

import numpy as np
import pytest

import ctlabel
from ctlabel.case.editing import EditingSession, Edits
from ctlabel.errors import InputError
from ctlabel.intake.synthetic import make_phantom
from ctlabel.prelabel import run as prelabel_run


def _edits():
    volume, _, table = make_phantom(shape=(24, 48, 48))
    labels = np.zeros(volume.shape, np.uint8)
    return volume, Edits(labels, volume.grid, "ann1", table=table)


def _paint(e: Edits, label: int, z: int, box: tuple[int, int]) -> None:
    e.labels[z, box[0]:box[1], box[0]:box[1]] = label
    e.record_edit("paint", {label: {z}}, axis=0)


def test_interpolation_job_is_computed_from_a_copy_and_takes_the_image():
    volume, e = _edits()
    _paint(e, 1, 4, (10, 30))
    _paint(e, 1, 12, (14, 26))
    before = e.labels.copy()
    job = e.interpolation_job([1], image=volume.array)
    e.labels[8] = 3  # the editor goes on while the job waits: the job does not see it
    res = job()
    expected = ctlabel.interpolate_with_report(before, {1: [4, 12]}, spacing=e.spacing, image=volume.array)
    out = before.copy()
    out[res.indices] = res.values
    np.testing.assert_array_equal(out, expected.labels)
    np.testing.assert_array_equal(res.old, before[res.indices])
    assert res.filled == {1: list(range(5, 12))} and res.refined == expected.refined
    shape_only = e.interpolation_job([1], copy=True)()
    assert shape_only.refined == {}
    with pytest.raises(InputError):
        e.interpolation_job([1], image=volume.array[:-1])()


def test_prelabel_methods_follow_undo_and_become_semiautomatic_when_painted(tmp_path):
    volume, e = _edits()
    e.labels[2:6, 5:9, 5:9] = 2
    e.record_edit("fill", {}, axis=0)  # how the viewer records a pre-label write: no slice painted
    e.mark_prelabelled({2: prelabel_run.method_record("bone")})
    assert e.methods[2]["Kind"] == "automatic" and e.events[-1]["Tool"] == "ctlabel prelabel"
    assert e.tracker.painted() == {} and e.provenance().methods[2]["Name"] == "ctlabel.prelabel.bone"
    e.undo()
    assert e.methods == {}
    e.redo()
    assert 2 in e.methods
    _paint(e, 2, 10, (20, 24))  # the annotator corrects it by hand
    assert e.provenance().methods[2]["Kind"] == "semiautomatic"
    s = EditingSession.create(tmp_path / "case", volume, e)  # save as case carries them
    try:
        record = json.loads(s.case.draft_path.with_suffix("").with_suffix(".json").read_text())
        assert record["Labels"]["2"]["Method"]["Kind"] == "semiautomatic"
        s.save()  # a later save keeps it
        record = json.loads(s.case.draft_path.with_suffix("").with_suffix(".json").read_text())
        assert record["Labels"]["2"]["Method"]["Name"] == "ctlabel.prelabel.bone"
        s.write_journal()  # the journal takes no methods
    finally:
        s.close()


def test_prelabel_volume_reports_progress_and_refusals_name_the_labels():
    volume, _, _ = make_phantom(shape=(24, 48, 48))
    table = ctlabel.default_label_table()
    targets = prelabel_run.resolve_labels(table, ["lungs", "bone"])
    seen = []
    out = np.zeros(volume.shape, np.uint8)
    prelabel_run.prelabel_volume(volume.array, volume.spacing, targets, out, progress=lambda f, m: seen.append((f, m)))
    assert seen[0] == (0.0, "body outline") and [m for _, m in seen[1:3]] == ["lungs", "bone"]
    assert seen[-1][0] == 1.0 and [f for f, _ in seen] == sorted(f for f, _ in seen)
    busy = np.zeros_like(out)
    prelabel_run.require_empty_targets(busy, targets, table)
    busy[0, 0, 0] = targets["bone"][0]
    with pytest.raises(InputError, match=r"bone \(14\) already hold voxels"):
        prelabel_run.require_empty_targets(busy, targets, table)
