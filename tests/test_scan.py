"""find_series / scan: grouping, classification and irregularity warnings on real data."""

import json

import pytest
from data_paths import CT_DATA, GE_TILT, PHILIPS

import ctlabel
from ctlabel.cli.main import main


def kinds(result):
    return [(s.kind, s.description, s.n_slices) for s in result.stacks]


def test_philips_session_lists_every_stack_and_classifies_it():
    result = ctlabel.find_series(PHILIPS)
    got = kinds(result)
    assert ("volume", "STD BRAIN 5MM", 28) in got
    assert ("volume", "STD BRAIN 1MM, iDose", 140) in got
    assert [k for k, _, _ in got].count("localizer") == 1
    # secondary captures (exam summary pages, dose info) are listed, never volumes
    assert sum(n for k, d, n in got if k == "secondary") == 6
    assert len(result.volumes()) == 2
    # the session index lists a series that was left out of the data: reported, not fatal
    notes = [p for p in result.problems if "missing" in p.reason]
    assert notes and not any(p.fatal for p in notes)


def test_dicomdir_path_follows_nested_index_files():
    result = ctlabel.find_series(PHILIPS / "DIRFILE")
    assert sorted(s.n_slices for s in result.volumes()) == [28, 140]


def test_pydicom_dicomdir_scout_plus_axial():
    result = ctlabel.find_series(CT_DATA / "pydicom_ct" / "dicomdir_98892001_scout_plus_axial")
    assert [(s.kind, s.n_slices) for s in result.stacks] == [("volume", 5), ("localizer", 2)]


def test_slices_sorted_by_position_not_by_name_or_instance_number():
    stack = ctlabel.find_series(PHILIPS / "S2010").volumes()[0]
    z = [s.position[2] for s in stack.slices]
    assert z == sorted(z)


def test_tilted_uneven_series_is_one_stack_with_warnings():
    [stack] = ctlabel.find_series(GE_TILT).stacks
    codes = [w.split(":")[0] for w in stack.warnings]
    assert stack.n_slices == 28
    assert "gantry_tilt" in codes and "non_uniform_spacing" in codes
    assert "18.50 deg" in next(w for w in stack.warnings if w.startswith("gantry_tilt"))


def test_segmentations_and_rtstruct_link_to_their_series():
    result = ctlabel.find_series(CT_DATA / "dcmqi_ct3slice_seg")
    [ct] = result.volumes()
    segs = [s for s in result.stacks if s.kind == "nonimage"]
    assert len(segs) == 2 and all(s.references == [ct.series_uid] for s in segs)
    rt = ctlabel.find_series(CT_DATA / "rtutils_ct_rtstruct" / "mock_data")
    [ct] = rt.volumes()
    good = [s for s in rt.stacks if s.kind == "nonimage" and s.files[0].endswith("/rt.dcm")]
    assert good[0].references == [ct.series_uid]


def test_copies_of_one_slice_become_single_stacks():
    result = ctlabel.find_series(CT_DATA / "pydicom_ct" / "single_slices_compressed")
    singles = [s for s in result.stacks if s.kind == "single"]
    assert len(singles) == 7  # every file decodable on its own, none merged into a fake volume


def test_junk_and_truncated_files_are_reported_not_fatal_to_the_scan(tmp_path):
    (tmp_path / "I999").write_bytes(b"this is not dicom" * 10)
    (tmp_path / "notes.txt").write_text("hello")
    src = PHILIPS / "S2010" / "I10"
    (tmp_path / "I10").write_bytes(src.read_bytes()[:200])
    result = ctlabel.find_series(tmp_path)
    fatal = {p.path.rsplit("/", 1)[-1]: p.reason for p in result.problems if p.fatal}
    assert "not a DICOM file" in fatal["I999"]
    assert "I10" in fatal
    assert not [p for p in result.problems if p.path.endswith("notes.txt") and p.fatal]


def test_scan_cli_table_and_json(capsys):
    assert main(["scan", str(PHILIPS)]) == 0
    out = capsys.readouterr().out
    assert "STD BRAIN 1MM, iDose" in out and "140x512x512" in out and "localizer" in out
    assert main(["scan", "--json", str(GE_TILT)]) == 0
    data = json.loads(capsys.readouterr().out)
    [stack] = data["stacks"]
    assert stack["kind"] == "volume" and stack["slices"] == 28 and stack["size"] == [28, 512, 512]
    assert any(w.startswith("gantry_tilt") for w in stack["warnings"])


def test_scan_of_missing_path_is_a_clear_error(capsys, tmp_path):
    assert main(["scan", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "no such file" in err and "Traceback" not in err


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel_scan_finds_the_same_stacks(jobs, monkeypatch):
    from ctlabel.dicom import scan as dicom_scan

    monkeypatch.setattr(dicom_scan, "PARALLEL_SCAN_MIN_FILES", 1)
    a = ctlabel.find_series(CT_DATA, jobs=jobs)
    b = ctlabel.find_series(CT_DATA)
    assert [s.summary() for s in a.stacks] == [s.summary() for s in b.stacks]


def test_fast_header_path_reads_exactly_what_pydicom_reads(monkeypatch):
    """The fast header reader must agree with pydicom on every shared file it accepts."""
    from pathlib import Path

    from ctlabel.dicom import records as dicom_records
    from ctlabel.dicom.fast import read_fast_header
    from ctlabel.dicom.walk import NON_DICOM_SUFFIXES

    files = [p for p in CT_DATA.rglob("*") if p.is_file() and p.suffix not in NON_DICOM_SUFFIXES]
    fast = 0
    for f in files:
        monkeypatch.setattr(dicom_records, "_PYDICOM_ONLY", True)
        slow_record = dicom_records._read_record(Path(f))
        monkeypatch.setattr(dicom_records, "_PYDICOM_ONLY", False)
        fast += read_fast_header(f) is not None
        assert repr(dicom_records._read_record(Path(f))) == repr(slow_record), f
    assert fast >= 220  # the plain CT slices take the fast path; SEG, RT, enhanced CT go to pydicom
    assert read_fast_header(CT_DATA / "pydicom_ct" / "enhanced_ct_2frame" / "eCT_Supplemental.dcm") is None


def test_fast_header_reader_survives_corrupt_bytes(tmp_path):
    """Truncated or bit-flipped headers give None (pydicom then decides), never an exception."""
    import numpy as np

    from ctlabel.dicom.fast import read_fast_header

    data = (PHILIPS / "S2010" / "I10").read_bytes()
    rng = np.random.default_rng(7)
    target = tmp_path / "f.dcm"
    pixel_tag = read_fast_header(PHILIPS / "S2010" / "I10").pixel[2] - 12
    for cut in [0, 100, 132, 200, 500, 1000, 3000, pixel_tag]:
        target.write_bytes(data[:cut])
        assert read_fast_header(target) is None
    target.write_bytes(data[: pixel_tag + 12])  # header complete, pixels cut: found later, at load
    assert read_fast_header(target) is not None
    for _ in range(300):
        b = bytearray(data[:9000])
        for i in rng.integers(132, 9000, size=4):
            b[i] = int(rng.integers(0, 256))
        target.write_bytes(bytes(b))
        read_fast_header(target)  # must not raise


def test_size_mismatch_is_reported_by_both_header_paths(tmp_path, monkeypatch):
    import pydicom

    from ctlabel.dicom import records as dicom_records

    ds = pydicom.dcmread(PHILIPS / "S2010" / "I10")
    ds.Rows = 256  # the pixel data still holds 512 rows
    ds.save_as(tmp_path / "I10")
    for pydicom_only in (False, True):
        monkeypatch.setattr(dicom_records, "_PYDICOM_ONLY", pydicom_only)
        [problem] = [p for p in ctlabel.find_series(tmp_path).problems if p.fatal]
        assert problem.reason.startswith("pixel data holds 524288 bytes but Rows x Columns")
