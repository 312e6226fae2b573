"""``ctlabel pull`` against a real Orthanc with its DICOMweb plugin (tests/orthanc.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from data_paths import PHILIPS, PHILIPS_5MM
from orthanc import http_status_server, running_orthanc, silent_server

from ctlabel.cli.main import main
from ctlabel.dicomweb.client import ServerError
from ctlabel.dicomweb.pull import PULL_DIR, RETRIEVE_FILE, PullOptions, pull, series_folder_name
from ctlabel.intake.convert import convert


def _uids(folder: Path) -> tuple[str, str]:
    f = next(p for p in sorted(folder.iterdir()) if p.is_file() and p.name != "DIRFILE")
    ds = pydicom.dcmread(f, stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID


STUDY_5MM, SERIES_5MM = _uids(PHILIPS_5MM)
SERIES_1MM = _uids(PHILIPS / "S2020")[1]


def _cases(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if (p / "ct.json").is_file()) if out.is_dir() else []


def _ct(case: Path) -> tuple[nib.Nifti1Image, dict]:
    return nib.load(case / "ct.nii.gz"), json.loads((case / "ct.json").read_text())


@pytest.fixture(scope="module")
def reference_5mm(tmp_path_factory) -> Path:
    """The 5 mm series converted straight from the files."""
    out = tmp_path_factory.mktemp("reference")
    report = convert([PHILIPS_5MM], out, jobs=1, progress=False)
    assert report.ok and len(report.converted) == 1
    return Path(report.converted[0]["case"])


@pytest.fixture(scope="module")
def philips_server(tmp_path_factory):
    """Orthanc holding the whole Philips session: two volumes, a localizer, secondary captures."""
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        assert server.upload(PHILIPS) > 150
        yield server


def _assert_same_case(case: Path, reference: Path) -> None:
    img, side = _ct(case)
    ref_img, ref_side = _ct(reference)
    assert np.array_equal(img.affine, ref_img.affine)
    assert np.array_equal(img.header.get_sform(), ref_img.header.get_sform())
    assert np.array_equal(img.header.get_qform(), ref_img.header.get_qform())
    a, b = np.asanyarray(img.dataobj), np.asanyarray(ref_img.dataobj)
    assert a.dtype == b.dtype and np.array_equal(a, b)
    assert side["Source"]["SeriesPixelSHA256"] == ref_side["Source"]["SeriesPixelSHA256"]
    assert side["VoxelSHA256"] == ref_side["VoxelSHA256"]
    assert side["Geometry"] == ref_side["Geometry"]
    assert [s and s["SOPInstanceUID"] for s in side["Source"]["Slices"]] == \
        [s and s["SOPInstanceUID"] for s in ref_side["Source"]["Slices"]]


def test_pull_series_by_uid_has_the_exact_geometry_of_convert(philips_server, reference_5mm, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["pull", philips_server.dicomweb, "--series", SERIES_5MM, "-o", str(out), "--jobs", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    assert report["summary"] == {"series": 1, "failed": 0, "instances_fetched": 28, "instances_already_present": 0,
                                 "cases": 1}
    (case,) = _cases(out)
    _assert_same_case(case, reference_5mm)
    assert json.loads((case / RETRIEVE_FILE).read_text())["Retrieve"] == {
        "URL": philips_server.dicomweb, "StudyInstanceUID": STUDY_5MM, "SeriesInstanceUID": SERIES_5MM}
    assert not (out / PULL_DIR).exists()  # downloaded DICOM deleted

    # pulled again: the case exists (same source), it is skipped, nothing is replaced
    rc = main(["pull", philips_server.dicomweb, "--series", SERIES_5MM, "-o", str(out), "--jobs", "1", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert rc == 0 and _cases(out) == [case]
    assert again["series"][0]["cases"] == [str(case)] and again["convert"]["summary"]["skipped"] >= 1


def test_pull_study_makes_cases_of_the_volumes_only(philips_server, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["pull", philips_server.dicomweb, "--study", STUDY_5MM, "-o", str(out), "--jobs", "1", "--json",
               "--keep-dicom"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    cases = _cases(out)
    assert len(cases) == 2
    series = {_ct(c)[1]["Source"]["SeriesInstanceUID"] for c in cases}
    assert series == {SERIES_5MM, SERIES_1MM}
    for c in cases:
        retrieve = json.loads((c / RETRIEVE_FILE).read_text())["Retrieve"]
        assert retrieve["SeriesInstanceUID"] == _ct(c)[1]["Source"]["SeriesInstanceUID"]
        assert retrieve["StudyInstanceUID"] == STUDY_5MM
    by_status = {}
    for s in report["series"]:
        by_status.setdefault(s["status"], []).append(s)
    assert {s["SeriesInstanceUID"] for s in by_status["converted"]} == {SERIES_5MM, SERIES_1MM}
    # the localizer series and the series of secondary captures (Exam Summary, modality CT too) are
    # retrieved and explained, not converted
    assert len(by_status.get("skipped", [])) == 2, report["series"]
    reasons = " ".join(s["reason"] for s in by_status["skipped"])
    assert "localizer" in reasons and "secondary" in reasons, reasons
    assert all("no volume" in s["reason"] and not s["cases"] for s in by_status["skipped"])
    assert "failed" not in by_status
    # --keep-dicom: the downloaded series are kept, one folder per series, complete files only
    kept = sorted(p.name for p in (out / PULL_DIR).iterdir())
    assert kept == sorted(series_folder_name(s["SeriesInstanceUID"]) for s in report["series"])
    assert not list((out / PULL_DIR).rglob(".*.part"))


def test_interrupted_pull_resumes_without_fetching_twice(tmp_path, reference_5mm):
    out = tmp_path / "out"
    with running_orthanc(tmp_path / "orthanc") as server:
        assert server.upload(PHILIPS_5MM) == 28
        first: list[str] = []

        def stop_after_ten(ref, sop, fetched):
            if fetched:
                first.append(sop)
            if len(first) == 10 and server.proc is not None:
                server.stop()  # the server goes away mid-transfer

        with pytest.raises(ServerError) as err:
            pull(server.dicomweb, out, PullOptions(series=[SERIES_5MM], jobs=1), progress=False,
                 on_instance=stop_after_ten)
        assert "cannot reach the server" in err.value.reason and "resumes" in err.value.reason
        assert _cases(out) == []  # nothing converted
        folder = out / PULL_DIR / series_folder_name(SERIES_5MM)
        on_disk = sorted(folder.glob("*.dcm"))
        assert len(on_disk) == 10 and not list(folder.glob(".*.part"))
        for f in on_disk:  # every instance file on disk is complete
            assert pydicom.dcmread(f).pixel_array.shape == (512, 512)
        (folder / ".0000.dcm.part").write_bytes(b"torn")  # a temporary file of a killed process

        server.start()  # the same storage, the same URL
        second: dict[str, bool] = {}
        report = pull(server.dicomweb, out, PullOptions(series=[SERIES_5MM], jobs=1), progress=False,
                      on_instance=lambda ref, sop, fetched: second.__setitem__(sop, fetched))
    assert report.ok
    assert sum(second.values()) == 18 and not {s for s, f in second.items() if f} & set(first)
    assert set(first) == {s for s, f in second.items() if not f}
    (ref,) = report.series
    assert (ref.fetched, ref.already_present, ref.status) == (18, 10, "converted")
    (case,) = _cases(out)
    _assert_same_case(case, reference_5mm)
    assert not (out / PULL_DIR).exists()


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.rglob("*")), list(out.rglob("*"))


def test_wrong_root_path_is_a_clear_error(philips_server, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["pull", philips_server.base + "/no-dicom-web-here", "--series", SERIES_5MM, "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error: {philips_server.base}/no-dicom-web-here: HTTP 404") and "DICOMweb root" in err
    _assert_nothing_written(out)


def test_server_error_500_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    with http_status_server(500) as (url, _):
        rc = main(["pull", url, "--study", STUDY_5MM, "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {url}: the server failed (HTTP 500") and "Traceback" not in err
    _assert_nothing_written(out)


def test_silent_server_gives_up_after_the_timeout(tmp_path, capsys):
    out = tmp_path / "out"
    with silent_server() as url:
        start = time.monotonic()
        rc = main(["pull", url, "--series", SERIES_5MM, "-o", str(out), "--timeout", "2"])
        took = time.monotonic() - start
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {url}: no answer within 2 s")
    assert 1.5 < took < 6  # one --timeout period, no retries
    _assert_nothing_written(out)


def test_bearer_token_is_sent_and_a_refusal_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PACS_TOKEN", "t0ken-value")
    with http_status_server(401) as (url, seen):
        rc = main(["pull", url, "--series", SERIES_5MM, "-o", str(tmp_path / "out"), "--token-env", "PACS_TOKEN"])
    err = capsys.readouterr().err
    assert rc == 2 and "access refused (HTTP 401" in err and "t0ken-value" not in err
    assert seen and all(h.get("Authorization") == "Bearer t0ken-value" for h in seen)


def test_basic_auth_and_a_wrong_password(tmp_path, capsys, monkeypatch, reference_5mm):
    out = tmp_path / "out"
    with running_orthanc(tmp_path / "orthanc", users={"alice": "pa55-w0rd"}) as server:
        server.upload(PHILIPS_5MM)
        monkeypatch.setenv("PACS_PASSWORD", "wrong")
        rc = main(["pull", server.dicomweb, "--series", SERIES_5MM, "-o", str(out), "--user", "alice",
                   "--password-env", "PACS_PASSWORD"])
        err = capsys.readouterr().err
        assert rc == 2 and f"error: {server.dicomweb}: access refused (HTTP 401" in err
        _assert_nothing_written(out)
        rc = main(["pull", server.dicomweb, "--series", SERIES_5MM, "-o", str(out)])  # no credentials
        assert rc == 2 and "access refused" in capsys.readouterr().err

        monkeypatch.setenv("PACS_PASSWORD", "pa55-w0rd")
        rc = main(["pull", server.dicomweb, "--series", SERIES_5MM, "-o", str(out), "--user", "alice",
                   "--password-env", "PACS_PASSWORD", "--jobs", "1", "--pseudonymize-uids", "salt", "-q"])
        assert rc == 0, capsys.readouterr()
    (case,) = _cases(out)
    img, side = _ct(case)
    assert side["Source"]["SeriesPixelSHA256"] == _ct(reference_5mm)[1]["Source"]["SeriesPixelSHA256"]
    retrieve = json.loads((case / RETRIEVE_FILE).read_text())["Retrieve"]
    assert retrieve["SeriesInstanceUID"] == side["Source"]["SeriesInstanceUID"] != SERIES_5MM
    assert retrieve["StudyInstanceUID"] == side["Source"]["StudyInstanceUID"] != STUDY_5MM
    assert retrieve["UIDsPseudonymized"] is True and retrieve["URL"] == server.dicomweb
    for f in out.rglob("*"):  # no credential and no original UID recorded anywhere
        if f.is_file() and f.suffix in (".json", ".tsv", ".gz"):
            text = f.read_bytes()
            assert b"pa55-w0rd" not in text and b"alice" not in text and SERIES_5MM.encode() not in text


def test_bad_usage_exits_2(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "out")
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    for argv, says in [
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out], "say what to pull"),
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out, "--study-date", "20150231-"], "not a date"),
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out, "--study-date", "2015"], "YYYYMMDD"),
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out, "--study-date", "20150101-", "--study", "1.2"],
         "cannot be combined"),
        (["pull", "http://u:p@127.0.0.1:9/dicom-web", "-o", out, "--study", "1.2"], "credentials in the URL"),
        (["pull", "ftp://127.0.0.1/x", "-o", out, "--study", "1.2"], "http(s)"),
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out, "--series", "x.y"], "not a DICOM UID"),
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out, "--study", "1.2", "--user", "a"], "--password-env"),
        (["pull", "http://127.0.0.1:9/dicom-web", "-o", out, "--study", "1.2", "--token-env", "NO_SUCH_VAR"],
         "NO_SUCH_VAR is not set"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err, (argv, err)
    _assert_nothing_written(tmp_path / "out")
