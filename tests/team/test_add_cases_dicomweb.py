"""``ctlabel team add-cases PROJECT URL``: cases pulled from a real Orthanc (tests/orthanc.py) over DICOMweb."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from orthanc import http_status_server, running_orthanc
from sqlalchemy import select
from team_helpers import PHILIPS_5MM

from ctlabel.cli.main import main
from ctlabel.dicomweb.pull import PULL_DIR, RETRIEVE_FILE
from ctlabel.intake.convert import convert
from ctlabel.team import admin
from ctlabel.team.db import CaseRow
from ctlabel.team.service import Service


def _uids(folder: Path) -> tuple[str, str]:
    f = next(p for p in sorted(folder.iterdir()) if p.is_file() and p.name != "DIRFILE")
    ds = pydicom.dcmread(f, stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID


STUDY_5MM, SERIES_5MM = _uids(PHILIPS_5MM)


@pytest.fixture(scope="module")
def orthanc_5mm(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        assert server.upload(PHILIPS_5MM) == 28
        yield server


def _registered(project: Path) -> list[str]:
    svc = Service(project)
    try:
        with svc.tx() as db:
            return sorted(db.scalars(select(CaseRow.name)))
    finally:
        svc.engine.dispose()


def _cases(project: Path) -> list[Path]:
    return sorted(p for p in (project / "cases").iterdir() if (p / "ct.json").is_file())


def _same_geometry(case: Path, reference: Path) -> None:
    img, ref = nib.load(case / "ct.nii.gz"), nib.load(reference / "ct.nii.gz")
    assert img.shape == ref.shape
    assert np.array_equal(img.affine, ref.affine)
    assert np.array_equal(img.header.get_sform(), ref.header.get_sform())
    assert np.array_equal(img.header.get_qform(), ref.header.get_qform())
    assert np.array_equal(np.asanyarray(img.dataobj), np.asanyarray(ref.dataobj))
    side, ref_side = (json.loads((c / "ct.json").read_text()) for c in (case, reference))
    assert side["Geometry"] == ref_side["Geometry"] and side["VoxelSHA256"] == ref_side["VoxelSHA256"]


def test_add_cases_from_dicomweb_by_series_uid(orthanc_5mm, db_url, tmp_path, capsys):
    project = tmp_path / "project"
    admin.init_project(project, url=db_url).engine.dispose()
    rc = main(["team", "add-cases", str(project), orthanc_5mm.dicomweb, "--series", SERIES_5MM, "--jobs", "1",
               "--pseudonymize-uids", "s4lt", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    (case,) = _cases(project)
    assert out["added"] == [case.name] and out["ok"] and out["pull"]["summary"]["instances_fetched"] == 28
    assert _registered(project) == [case.name]
    ref = convert([PHILIPS_5MM], tmp_path / "ref", jobs=1, progress=False)
    _same_geometry(case, Path(ref.converted[0]["case"]))
    # de-identified as for folders: pseudonymized UIDs in ct.json and in retrieve.json, the project's labels
    side = json.loads((case / "ct.json").read_text())
    retrieve = json.loads((case / RETRIEVE_FILE).read_text())["Retrieve"]
    assert retrieve["URL"] == orthanc_5mm.dicomweb and retrieve["UIDsPseudonymized"] is True
    assert retrieve["SeriesInstanceUID"] == side["Source"]["SeriesInstanceUID"] != SERIES_5MM
    assert retrieve["StudyInstanceUID"] == side["Source"]["StudyInstanceUID"] != STUDY_5MM
    assert (case / "labels.tsv").read_bytes() == (project / "labels.tsv").read_bytes()
    for f in case.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".tsv", ".gz"):
            assert SERIES_5MM.encode() not in f.read_bytes() and STUDY_5MM.encode() not in f.read_bytes()
    assert not (project / "cases" / PULL_DIR).exists()  # the downloaded DICOM is gone

    # the same series again: its case exists, nothing is added or replaced
    rc = main(["team", "add-cases", str(project), orthanc_5mm.dicomweb, "--series", SERIES_5MM, "--jobs", "1",
               "--pseudonymize-uids", "s4lt", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert rc == 0 and again["added"] == [] and again["already_registered"] == [case.name]
    assert _cases(project) == [case] and _registered(project) == [case.name]


def test_add_cases_from_dicomweb_keeps_uids_and_dicom_when_asked(orthanc_5mm, tmp_path, capsys):
    project = tmp_path / "project"
    admin.init_project(project).engine.dispose()
    rc = main(["team", "add-cases", str(project), orthanc_5mm.dicomweb, "--study", STUDY_5MM, "--jobs", "1",
               "--keep-dicom", "--priority", "5"])
    assert rc == 0, capsys.readouterr()
    assert "added " in capsys.readouterr().out
    (case,) = _cases(project)
    assert json.loads((case / RETRIEVE_FILE).read_text())["Retrieve"] == {
        "URL": orthanc_5mm.dicomweb, "StudyInstanceUID": STUDY_5MM, "SeriesInstanceUID": SERIES_5MM}
    assert len(list((project / "cases" / PULL_DIR).rglob("*.dcm"))) == 28
    svc = Service(project)
    with svc.tx() as db:
        assert db.scalar(select(CaseRow.priority).where(CaseRow.name == case.name)) == 5
    svc.engine.dispose()


@pytest.mark.parametrize("status", [404, 500])
def test_a_failing_server_registers_nothing(status, db_url, tmp_path, capsys):
    project = tmp_path / "project"
    admin.init_project(project, url=db_url).engine.dispose()
    with http_status_server(status) as (url, seen):
        rc = main(["team", "add-cases", str(project), url, "--series", SERIES_5MM])
    err = capsys.readouterr().err
    assert seen and rc == 1 and "Traceback" not in err
    assert err.startswith(f"error: {url}: " + ("HTTP 404" if status == 404 else "the server failed (HTTP 500"))
    assert _registered(project) == [] and _cases(project) == []
    assert not any((project / "cases").rglob("*.dcm"))


def test_bad_usage(tmp_path, capsys):
    project = tmp_path / "project"
    admin.init_project(project).engine.dispose()
    for argv, says in [
        ([str(project), "http://127.0.0.1:9/dicom-web"], "say what to pull"),
        ([str(project), "http://127.0.0.1:9/dicom-web", str(PHILIPS_5MM), "--series", "1.2"], "not both"),
        ([str(project), str(PHILIPS_5MM), "--series", "1.2"], "--series is for a DICOMweb URL"),
        ([str(project), "http://127.0.0.1:9/dicom-web", "--series", "1.2", "--user", "a"], "--password-env"),
    ]:
        assert main(["team", "add-cases", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err, (argv, err)
    assert _registered(project) == []
