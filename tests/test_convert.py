"""Batch conversion: case folders, bad input, determinism, resume, report, and no patient data out."""

import gzip
import json
import shutil
import subprocess
import sys

import pydicom
import pytest
from data_paths import CT_DATA, PHILIPS_5MM

import ctlabel
from ctlabel.case.folder import Case
from ctlabel.cli.main import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True)


@pytest.fixture()
def mixed_source(tmp_path):
    """Two good series, and four bad ones: truncated, junk, no pixels, inconsistent sizes."""
    src = tmp_path / "src"
    shutil.copytree(PHILIPS_5MM, src / "good_philips", ignore=shutil.ignore_patterns("DIRFILE"))
    shutil.copytree(CT_DATA / "dcmqi_ct3slice_seg" / "dicom", src / "good_3slice")
    files = sorted((CT_DATA / "rtutils_ct_rtstruct" / "mock_data").glob("ct_*.dcm"))
    bad = src / "truncated"
    bad.mkdir()
    for f in files:
        shutil.copy(f, bad)
    data = (bad / "ct_2.dcm").read_bytes()
    (bad / "ct_2.dcm").write_bytes(data[: len(data) // 2])
    (src / "junk").mkdir()
    (src / "junk" / "IM0001").write_bytes(b"\x00" * 50 + b"garbage, not a DICOM file")
    nopix = src / "nopixels"
    nopix.mkdir()
    for i, f in enumerate(sorted((CT_DATA / "pydicom_ct" / "dicomdir_98892001_scout_plus_axial" / "CT5N").iterdir())):
        ds = pydicom.dcmread(f)
        if i == 0:
            del ds.PixelData
        ds.save_as(nopix / f.name)
    sizes = src / "sizes"
    sizes.mkdir()
    for i, f in enumerate(sorted((CT_DATA / "pydicom_ct" / "dicomdir_77654033_CT2" / "dicom").iterdir())):
        ds = pydicom.dcmread(f)
        if i == 1:
            ds.Rows = 8  # says 8 rows, holds 16
        ds.save_as(sizes / f.name)
    return src


def test_convert_makes_case_folders_and_reports_every_failure(mixed_source, tmp_path):
    out = tmp_path / "out"
    r = run_cli("convert", mixed_source, "-o", out, "--report", tmp_path / "report.json")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    # the three slices of "sizes" that agree form a stack and convert; the odd one fails
    assert report["summary"]["converted"] == 3
    failed = {f["path"].split("/src/")[1]: f["reason"] for f in report["failed"]}
    assert "not a DICOM file" in failed["junk/IM0001"]
    assert any(p.startswith("truncated/") for p in failed)
    assert any(p.startswith("nopixels/") and "no pixel data" in r for p, r in failed.items())
    assert any(p.startswith("sizes/") for p in failed)
    assert "converted 3 (" in r.stdout and "FAILED" in r.stdout
    cases = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(cases) == 3
    case = Case.open(next(out / c for c in cases
                          if Case(out / c).image_record()["Source"]["SeriesDescription"] == "STD BRAIN 5MM"))
    assert case.load_image().shape == (28, 512, 512)
    assert case.labels_path.exists() and case.record_path.exists() and case.masks_dir.is_dir()
    assert json.loads((out / "dataset_description.json").read_text())["DatasetType"] == "derivative"


def test_names_are_deterministic_whatever_jobs_and_skip_existing_resumes(tmp_path):
    src = [PHILIPS_5MM, CT_DATA / "dcmqi_ct3slice_seg", CT_DATA / "pydicom_ct" / "dicomdir_98892001_scout_plus_axial"]
    a = ctlabel.convert(src, tmp_path / "a", jobs=1, progress=False)
    b = ctlabel.convert(src, tmp_path / "b", jobs=2, progress=False)
    names = lambda rep: sorted(c["case"].rsplit("/", 1)[1] for c in rep.converted)  # noqa: E731
    assert names(a) == names(b) and len(names(a)) == 3
    for n in names(a):
        assert (tmp_path / "a" / n / "ct.json").read_text().count("SOPInstanceUID") == \
            (tmp_path / "b" / n / "ct.json").read_text().count("SOPInstanceUID")
    # an interrupted batch: one case gone, one half-written leftover
    shutil.rmtree(tmp_path / "a" / names(a)[0])
    (tmp_path / "a" / f".{names(a)[1]}.partial").mkdir()
    c = ctlabel.convert(src, tmp_path / "a", options=ctlabel.ConvertOptions(skip_existing=True), progress=False)
    assert names(c) == [names(a)[0]]
    assert sum("case exists (same source)" in s["reason"] for s in c.skipped) == 2


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path):
    r = run_cli("convert", PHILIPS_5MM, CT_DATA / "dcmqi_ct3slice_seg", "-o", tmp_path / "o", "-j", "2")
    assert r.returncode == 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("[")]
    assert lines == sorted(lines) and lines[-1].startswith("[2/2]") and "\r" not in r.stderr


PHI = {
    "PatientName": "MARKERNAME^ZQX",
    "PatientID": "MARKERID9931",
    "PatientBirthDate": "19010203",
    "AccessionNumber": "MARKERACC77",
    "InstitutionName": "MARKERINSTITUTE",
    "ReferringPhysicianName": "MARKERDOC^QQ",
}


def _plant_phi(src, dst):
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        if f.name == "DIRFILE":
            continue
        ds = pydicom.dcmread(f)
        for k, v in PHI.items():
            setattr(ds, k, v)
        ds.save_as(dst / f.name)


def _all_output_text(folder):
    for p in folder.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if p.name.endswith(".gz"):
                data = gzip.decompress(data)
            yield p, data


def test_no_patient_identifier_reaches_any_output(tmp_path):
    _plant_phi(PHILIPS_5MM, tmp_path / "src")
    out = tmp_path / "out"
    assert main(["convert", str(tmp_path / "src"), "-o", str(out), "-q",
                 "--report", str(out / "report.json")]) == 0
    case = next(p for p in out.iterdir() if p.is_dir())
    import numpy as np

    Case.open(case).save_draft(np.zeros((28, 512, 512), np.uint8), Case.open(case).image_grid(), annotator="a1")
    checked = 0
    for path, data in _all_output_text(out):
        for marker in PHI.values():
            for variant in {marker, marker.replace("^", " ")}:
                assert variant.encode() not in data, f"{marker} leaked into {path}"
        checked += 1
    assert checked >= 8
    uid = str(pydicom.dcmread(next((tmp_path / "src").iterdir())).StudyInstanceUID)
    assert uid.encode() in (case / "ct.json").read_bytes()  # UIDs are kept by default


def test_pseudonymize_uids_replaces_every_uid(tmp_path):
    _plant_phi(PHILIPS_5MM, tmp_path / "src")
    ds = pydicom.dcmread(next((tmp_path / "src").iterdir()))
    uids = {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.FrameOfReferenceUID),
            str(ds.SOPInstanceUID)}
    out = tmp_path / "out"
    assert main(["convert", str(tmp_path / "src"), "-o", str(out), "-q", "--pseudonymize-uids", "s3cret"]) == 0
    for path, data in _all_output_text(out):
        for uid in uids:
            assert uid.encode() not in data, f"{uid} leaked into {path}"
    case = next(p for p in out.iterdir() if p.is_dir())
    src = json.loads((case / "ct.json").read_text())["Source"]
    assert src["UIDsPseudonymized"] and src["StudyInstanceUID"].startswith("2.25.")
    # same salt, same pseudonyms (reproducible); pixel hashes untouched
    out2 = tmp_path / "out2"
    main(["convert", str(tmp_path / "src"), "-o", str(out2), "-q", "--pseudonymize-uids", "s3cret"])
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in out2.iterdir())


def test_unwritable_output_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run_cli("convert", PHILIPS_5MM, "-o", blocker / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and "file" in r.stderr
