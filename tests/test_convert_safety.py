"""Convert never deletes or misplaces work: re-runs, name collisions, existing folders, --overwrite-image."""

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from data_paths import CT_DATA, PHILIPS_5MM

import ctlabel
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case import verify as case_verify
from ctlabel.case.folder import Case
from ctlabel.case.naming import stack_case_name
from ctlabel.errors import CaseError


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True)


def tree_digest(root):
    """Every file below root with the SHA-256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def philips(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PHILIPS_5MM, src, ignore=shutil.ignore_patterns("DIRFILE"))
    return src


def _submitted_case(out):
    (root,) = [p for p in out.iterdir() if p.is_dir()]
    case = Case.open(root)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[10:14, 200:260, 200:260] = 1
    case.save_draft(labels, grid, painted={1: [10, 13]}, annotator="ann1")
    review.submit(case, "ann1", force=True)
    return case


def test_rerunning_convert_keeps_a_submitted_case_untouched(philips, tmp_path):
    out = tmp_path / "out"
    first = run_cli("convert", philips, "-o", out, "-q")
    assert first.returncode == 0, first.stderr
    case = _submitted_case(out)
    before = tree_digest(case.root)
    assert case_record.state_of(case) == "submitted" and case.versions() == [1]
    for extra in ([], ["--skip-existing"], ["-j", "2"]):
        again = run_cli("convert", philips, "-o", out, "-q", *extra)
        assert again.returncode == 0, again.stderr
        assert "converted 0 " in again.stdout and "skipped 1" in again.stdout
        assert tree_digest(case.root) == before
    assert case_record.state_of(case) == "submitted" and case_verify.verify_case(case).ok


def test_existing_case_is_found_by_source_identity_not_folder_name(philips, tmp_path):
    out = tmp_path / "out"
    ctlabel.convert([philips], out, progress=False)
    (root,) = [p for p in out.iterdir() if p.is_dir()]
    renamed = root.with_name("my_own_name")
    root.rename(renamed)
    rep = ctlabel.convert([philips], out, progress=False)
    assert rep.converted == [] and rep.skipped[0]["case"] == str(renamed)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["my_own_name"]


def test_a_folder_of_the_same_name_with_other_content_is_a_failure_left_alone(philips, tmp_path):
    out = tmp_path / "out"
    name = stack_case_name(ctlabel.find_series(philips).volumes()[0])
    (out / name).mkdir(parents=True)
    (out / name / "notes.txt").write_text("mine")
    rep = ctlabel.convert([philips], out, progress=False)
    assert not rep.ok and "exists and holds something else" in rep.failed[0]["reason"]
    assert [p.name for p in (out / name).iterdir()] == ["notes.txt"]


def _two_acquisitions(src, dst, *, same_series=True, acq=True):
    """The 28 Philips slices twice at the same positions: as a second acquisition, or a second series."""
    dst.mkdir()
    series2 = pydicom.uid.generate_uid()
    for f in sorted(src.glob("I*")):
        ds = pydicom.dcmread(f)
        ds.save_as(dst / f"a_{f.name}")
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        arr = ds.pixel_array.copy()
        arr[0, :8] = 7  # other pixels
        ds.PixelData = arr.tobytes()
        if acq:
            ds.AcquisitionNumber = int(ds.get("AcquisitionNumber", 1) or 1) + 1
        if not same_series:
            ds.SeriesInstanceUID = series2
        ds.save_as(dst / f"b_{f.name}")


@pytest.mark.parametrize("same_series", [True, False], ids=["two-stacks-one-series", "two-series-alike"])
def test_two_stacks_never_share_a_case_folder(philips, tmp_path, same_series):
    src = tmp_path / "two"
    _two_acquisitions(philips, src, same_series=same_series)
    names = {}
    for jobs in (1, 2):
        rep = ctlabel.convert([src], tmp_path / f"out{jobs}", jobs=jobs, progress=False)
        assert rep.ok and len(rep.converted) == 2, rep.failed
        folders = sorted(p for p in (tmp_path / f"out{jobs}").iterdir() if p.is_dir())
        assert len(folders) == 2
        hashes = {Case(f).image_record()["Source"]["SeriesPixelSHA256"] for f in folders}
        assert len(hashes) == 2  # each folder holds its own stack
        names[jobs] = [f.name for f in folders]
    assert names[1] == names[2]


def test_a_4d_series_is_classified_alike_by_scan_and_convert(philips, tmp_path):
    src = tmp_path / "fourd"
    _two_acquisitions(philips, src, acq=False)  # nothing tells the two phases apart
    (stack,) = ctlabel.find_series(src).stacks
    assert stack.kind == "ambiguous" and any("conflicting_duplicates" in w for w in stack.warnings)
    scan = run_cli("scan", src)
    assert "ambiguous" in scan.stdout
    rep = ctlabel.convert([src], tmp_path / "out", progress=False)
    assert rep.converted == [] and "hold two different images" in rep.failed[0]["reason"]


def test_overwrite_image_keeps_masks_records_the_event_and_refuses_another_grid(philips, tmp_path):
    out = tmp_path / "out"
    ctlabel.convert([philips], out, progress=False)
    case = _submitted_case(out)
    masks = tree_digest(case.masks_dir)
    old = case.image_record()["VoxelSHA256"]
    # the same instances, re-exported with another rescale: same source and grid, new voxels
    for f in sorted(philips.glob("I*")):
        ds = pydicom.dcmread(f)
        ds.RescaleIntercept = float(ds.get("RescaleIntercept", 0)) - 1
        ds.save_as(f)
    r = run_cli("convert", philips, "-o", out, "-q", "--overwrite-image")
    assert r.returncode == 0, r.stderr + r.stdout
    assert case.image_record()["VoxelSHA256"] != old
    assert tree_digest(case.masks_dir) == masks
    ev = case_record.load_record(case)["Events"][-1]
    assert ev["Action"] == "image_replaced" and ev["OldImageVoxelSHA256"] == old
    assert case_verify.verify_case(case).ok and case_record.state_of(case) == "submitted"
    # another grid under the same source: refused, nothing changed
    current = tree_digest(case.root)
    for f in sorted(philips.glob("I*")):
        ds = pydicom.dcmread(f)
        ds.PixelSpacing = [0.5, 0.5]
        ds.save_as(f)
    r = run_cli("convert", philips, "-o", out, "-q", "--overwrite-image")
    assert r.returncode == 1 and "never resamples" in r.stdout
    assert tree_digest(case.root) == current


def test_overwrite_image_respects_the_case_lock(philips, tmp_path):
    out = tmp_path / "out"
    ctlabel.convert([philips], out, progress=False)
    (root,) = [p for p in out.iterdir() if p.is_dir()]
    from ctlabel.case.lock import acquire_lock

    with acquire_lock(root, "editor"):
        for f in sorted(philips.glob("I*")):
            ds = pydicom.dcmread(f)
            ds.RescaleIntercept = float(ds.get("RescaleIntercept", 0)) - 1
            ds.save_as(f)
        rep = ctlabel.convert([philips], out, progress=False,
                              options=ctlabel.ConvertOptions(overwrite_image=True))
        assert "being edited by editor" in rep.failed[0]["reason"]


@pytest.mark.parametrize("where", ["not-empty", "root", "file"])
def test_case_create_refuses_a_folder_that_is_not_empty(tmp_path, ct3_volume, where):
    target = {"not-empty": tmp_path, "root": tmp_path.anchor, "file": tmp_path / "f"}[where]
    (tmp_path / "f").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CaseError, match="empty folder"):
        Case.create(target, ct3_volume)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    Case.create(tmp_path / "new", ct3_volume)  # a new or empty folder is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    Case.create(empty, ct3_volume)
    assert json.loads((empty / "case.json").read_text())["State"] == "in_progress"


def test_demo_batch_twice_keeps_the_cases(tmp_path):
    out = tmp_path / "demo"
    assert run_cli("demo", "--batch", "-o", out).returncode == 0
    case = _submitted_case_in(out / "cases")
    before = tree_digest(case.root)
    r = run_cli("demo", "--batch", "-o", out)
    assert r.returncode == 0 and "converted 0 " in r.stdout
    assert tree_digest(case.root) == before


def _submitted_case_in(cases):
    root = sorted(p for p in cases.iterdir() if p.is_dir())[0]
    case = Case.open(root)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[grid.shape[0] // 2, 10:20, 10:20] = 1
    case.save_draft(labels, grid, painted={1: [grid.shape[0] // 2]}, annotator="ann1")
    return case


def test_convert_of_ct3_then_real_data_other_folder_is_not_matched(tmp_path):
    """Two different series in one output folder both convert, and a re-run skips both."""
    out = tmp_path / "out"
    src = [PHILIPS_5MM, CT_DATA / "dcmqi_ct3slice_seg" / "dicom"]
    rep = ctlabel.convert(src, out, progress=False)
    assert len(rep.converted) == 2
    again = ctlabel.convert(src, out, progress=False)
    assert again.converted == [] and len([s for s in again.skipped if "same source" in s["reason"]]) == 2


def test_series_without_uids_are_told_apart_by_position_and_voxels(tmp_path):
    """The body CT sample was published with empty Study, Series and SOP Instance UIDs."""
    from data_paths import ROOT

    sample = ROOT / "sample_data" / "totalseg_body_ct" / "dicom"
    out = tmp_path / "out"
    first = ctlabel.convert([sample], out, progress=False)
    assert len(first.converted) == 1
    again = ctlabel.convert([sample], out, progress=False)
    assert again.converted == [] and "checked voxel by voxel" in again.skipped[0]["reason"]
    # another series without UIDs at the same positions: a failure, the case left as it is
    other = tmp_path / "other"
    other.mkdir()
    for f in sorted(sample.iterdir()):
        ds = pydicom.dcmread(f)
        ds.RescaleIntercept = float(ds.get("RescaleIntercept", 0)) + 5
        ds.save_as(other / f.name)
    (case,) = [p for p in out.iterdir() if p.is_dir()]
    before = tree_digest(case)
    rep = ctlabel.convert([other], out, progress=False)
    assert rep.converted == [] and "holds another series at the same positions" in rep.failed[0]["reason"]
    assert tree_digest(case) == before
