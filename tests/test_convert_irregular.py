"""Irregular and odd input is converted where it belongs, or said why not: padding, split, singles, CLI."""

import json
import shutil
import subprocess
import sys

import jsonschema
import numpy as np
import pytest
from data_paths import CT2, CT_DATA, GE_TILT, PHILIPS_5MM
from geometry_check import check_pixel_centres

import ctlabel
from ctlabel.case.folder import Case
from ctlabel.io.provenance import schema


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True)


def test_missing_slices_are_padded_so_every_acquired_slice_is_where_it_was(tmp_path):
    """pydicom's CT2: 4 slices, 161 positions missing between the first and the others."""
    r = run_cli("convert", CT2 / "dicom", "-o", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    assert "(1 with warnings)" in r.stdout and "WARNING" in r.stdout and "missing_slices" in r.stdout
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    case = Case.open(root)
    rec = case.image_record()
    jsonschema.validate(rec, schema())
    n = rec["Geometry"]["Shape"][2]
    assert n == 165 and rec["Geometry"]["MissingSlices"] == list(range(1, 162))  # 202.5 mm / 1.25 mm
    slices = rec["Source"]["Slices"]
    assert [k for k, s in enumerate(slices) if s is not None] == [0, 162, 163, 164]
    ct_files = ctlabel.find_series(CT2 / "dicom").volumes()[0].files
    assert check_pixel_centres(case.image_path, ct_files, padded=range(1, 162)) == 4 * 16 * 16
    vol = case.load_image()
    assert vol.missing_slices == tuple(range(1, 162)) and (vol.array[1:162] == -1024).all()


def test_irregular_split_writes_each_uniform_run_as_a_case(tmp_path):
    rep = ctlabel.convert([GE_TILT], tmp_path, progress=False, options=ctlabel.ConvertOptions(irregular="split"))
    assert rep.ok and len(rep.converted) >= 2
    total = sum(c["slices"] for c in rep.converted)
    singles = [s for s in rep.skipped if "split off by --irregular split" in s["reason"]]
    assert total + len(singles) == 28
    for c in rep.converted:
        assert not any(w.startswith("non_uniform_spacing") for w in c["warnings"])
        vol = Case.open(c["case"]).load_image()
        gaps = np.diff(vol.slice_positions_mm) if vol.slice_positions_mm is not None else [vol.spacing[0]]
        assert np.ptp(gaps) <= 0.01 * np.median(gaps) + 0.01
    keep = ctlabel.convert([GE_TILT], tmp_path / "keep", progress=False)
    assert len(keep.converted) == 1 and keep.converted[0]["slices"] == 28


def test_a_series_of_one_image_converts_as_a_one_slice_case(tmp_path):
    rep = ctlabel.convert([CT_DATA / "pydicom_ct" / "ct_small"], tmp_path, progress=False)
    assert rep.ok and len(rep.converted) == 1
    case = rep.converted[0]
    assert case["size"][0] == 1 and case["spacing"][0] == pytest.approx(5.0)  # SliceThickness


def test_images_sharing_one_position_are_explained_once_not_converted(tmp_path):
    src = CT_DATA / "pydicom_ct" / "single_slices_compressed"
    rep = ctlabel.convert([src], tmp_path, progress=False)
    shared = [s for s in rep.skipped if "share one position" in s["reason"]]
    assert len(shared) == 1 and shared[0]["reason"].startswith("4 images of this series")
    assert not any("693_" in c.get("case", "") for c in rep.converted)
    scan = run_cli("scan", src)
    assert scan.stdout.count("share one position") == 4


@pytest.mark.parametrize("command", ["scan", "convert"])
def test_an_empty_folder_is_an_error_not_a_silent_success(tmp_path, command):
    (tmp_path / "empty").mkdir()
    args = [command, tmp_path / "empty"] + (["-o", tmp_path / "out"] if command == "convert" else [])
    r = run_cli(*args)
    assert r.returncode != 0 and "no DICOM files found" in (r.stdout + r.stderr)
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("jobs", ["0", "-3", "x"])
def test_jobs_must_be_a_positive_number(tmp_path, jobs):
    r = run_cli("convert", PHILIPS_5MM, "-o", tmp_path, "--jobs", jobs)
    assert r.returncode == 2 and "--jobs" in r.stderr and not list(tmp_path.iterdir())
    with pytest.raises(ctlabel.CtlabelError, match="at least 1"):
        ctlabel.convert([PHILIPS_5MM], tmp_path, jobs=0, progress=False)


def test_a_truncated_ct_header_is_a_failure_not_a_nonimage(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PHILIPS_5MM, src, ignore=shutil.ignore_patterns("DIRFILE"))
    victim = sorted(src.glob("I*"))[3]
    victim.write_bytes(victim.read_bytes()[:900])
    assert not [s for s in ctlabel.find_series(src).stacks if s.kind == "nonimage"]
    r = run_cli("convert", src, "-o", tmp_path / "out", "--report", tmp_path / "r.json")
    assert r.returncode == 1 and "truncated image header" in r.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["path"] for f in report["failed"]] == [str(victim)]
    assert report["summary"]["converted"] == 1


def test_qa_flags_paint_on_a_padded_slice(tmp_path):
    from ctlabel.measure.qa_targets import qa_target

    ctlabel.convert([CT2 / "dicom"], tmp_path, progress=False)
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    case = Case.open(root)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[162:165, 4:10, 4:10] = 1  # on acquired slices only
    case.save_draft(labels, grid, painted={1: [162, 164]}, annotator="a1")
    assert not [f for f in qa_target(root).findings if f.check == "on_padded_slice"]
    labels[150:165, 4:10, 4:10] = 1  # reaches into the padded gap
    case.save_draft(labels, grid, painted={1: [150, 164]}, annotator="a1")
    [finding] = [f for f in qa_target(root).findings if f.check == "on_padded_slice"]
    assert finding.label == 1 and finding.slice == 150 and "150-161" in finding.message
