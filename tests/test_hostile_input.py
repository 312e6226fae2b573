"""Hostile headers and odd trees: each bad file is one failed entry with its reason, the rest converts.

The header cases are the minimized crashers of the fuzz harness (benchmarks/fuzz_reader.py) and
the inconsistent-slice cases measured on a real 4-slice series (pydicom's CT2).
"""

import json
import os
import shutil
import subprocess
import sys

import pydicom
import pytest
from data_paths import CT2, PHILIPS_5MM
from pydicom import config
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

import ctlabel


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True)


def _set_raw(ds, tag, vr, value: bytes):
    if len(value) % 2:
        value += b" " if vr not in ("US", "UI", "OB") else b"\x00"
    ds[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def _series_with(tmp_path, victim_index, edit):
    """pydicom's CT2 series (4 slices) with one file changed by ``edit(ds)``; returns (folder, victim)."""
    src = tmp_path / "src"
    src.mkdir()
    files = sorted((CT2 / "dicom").iterdir())
    saved = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        for i, f in enumerate(files):
            ds = pydicom.dcmread(f)
            if i == victim_index:
                edit(ds)
            ds.save_as(src / f.name)
    finally:
        config.settings.writing_validation_mode = saved
    return src, src / files[victim_index].name


BAD_HEADERS = {
    "series-number-nan": (0x00200011, "IS", b"NaN"),
    "series-number-1.5": (0x00200011, "IS", b"1.5"),
    "series-number-two-values": (0x00200011, "IS", b"1\\2"),
    "frames-1e6": (0x00280008, "IS", b"1e6"),
    "frames-2e9": (0x00280008, "IS", b"2000000000"),
    "frames-zero": (0x00280008, "IS", b"0"),
    "frames-1.5": (0x00280008, "IS", b"1.5"),
    "rows-two-values": (0x00280010, "US", b"\x10\x00\x10\x00"),
    "rows-65535": (0x00280010, "US", b"\xff\xff"),
    "rows-bad-vr": (0x00280010, "DS", b"1.5"),
    "orientation-parallel": (0x00200037, "DS", b"1\\0\\0\\1\\0\\0"),
    "orientation-zero": (0x00200037, "DS", b"0\\0\\0\\0\\0\\0"),
    "orientation-non-unit": (0x00200037, "DS", b"0.5\\0\\0\\0\\0.5\\0"),
    "orientation-skewed": (0x00200037, "DS", b"1\\0\\0\\0.7071\\0.7071\\0"),
    "orientation-nan": (0x00200037, "DS", b"NaN\\0\\0\\0\\1\\0"),
    "spacing-negative": (0x00280030, "DS", b"-0.5\\-0.5"),
    "spacing-huge": (0x00280030, "DS", b"1e308\\1e308"),
    "slope-zero": (0x00281053, "DS", b"0"),
    "slope-nan": (0x00281053, "DS", b"NaN"),
    "position-infinite": (0x00200032, "DS", b"Infinity\\0\\0"),
}


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_a_bad_header_fails_its_file_and_the_series_still_converts(tmp_path, name):
    tag, vr, value = BAD_HEADERS[name]
    src, victim = _series_with(tmp_path, 2, lambda ds: _set_raw(ds, tag, vr, value))
    rep = ctlabel.convert([src], tmp_path / "out", progress=False)
    failed = {f["path"]: f["reason"] for f in rep.failed}
    assert str(victim) in failed and failed[str(victim)], rep.failed
    assert len(rep.failed) == 1
    assert sum(c["slices"] - len(c["missing_slices"]) for c in rep.converted) == 3  # the good three
    for c in rep.converted:
        json.loads((tmp_path / "out" / c["case"] / "ct.json").read_text())


def test_an_orientation_slightly_off_is_orthonormalised_with_a_warning(tmp_path):
    def tilt(ds):
        ds.ImageOrientationPatient = [1, 0.001, 0, 0, 1, 0]
    src, _ = _series_with(tmp_path, 0, tilt)
    stacks = ctlabel.find_series(src).stacks
    warned = [s for s in stacks if any(w.startswith("orientation_corrected") for w in s.warnings)]
    assert warned and all(abs(sum(v * v for v in h.orientation[:3]) - 1) < 1e-9 for h in warned[0].slices)


def _real_5(tmp_path, edit):
    """Five slices of the real Philips head CT, the middle one changed by ``edit(ds)``."""
    src = tmp_path / "five"
    src.mkdir()
    files = sorted(PHILIPS_5MM.glob("I*"), key=lambda f: int(f.name[1:]))[:5]
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        if i == 2:
            edit(ds)
        ds.save_as(src / f.name)
    return src, src / files[2].name


def _shift(mm):
    def edit(ds):
        ipp = [float(v) for v in ds.ImagePositionPatient]
        ds.ImagePositionPatient = [ipp[0] + mm, ipp[1], ipp[2]]
    return edit


INCONSISTENT = {
    "shifted-2mm": _shift(2.0),
    "shifted-20mm": _shift(20.0),
    "other-frame-of-reference": lambda ds: setattr(ds, "FrameOfReferenceUID", pydicom.uid.generate_uid()),
    "other-study": lambda ds: setattr(ds, "StudyInstanceUID", pydicom.uid.generate_uid()),
    "other-modality": lambda ds: setattr(ds, "Modality", "MR"),
    "monochrome1": lambda ds: setattr(ds, "PhotometricInterpretation", "MONOCHROME1"),
    "other-pixel-spacing": lambda ds: setattr(ds, "PixelSpacing", [0.6, 0.6]),
}


@pytest.mark.parametrize("name", sorted(INCONSISTENT))
def test_a_slice_that_does_not_belong_is_never_stacked_silently(tmp_path, name):
    src, victim = _real_5(tmp_path, INCONSISTENT[name])
    scan = ctlabel.find_series(src)
    [volume] = scan.volumes()
    assert str(victim) not in volume.files and volume.n_slices == 4
    assert any(w.startswith(("split_off_slices", "off_line_slices")) and victim.name in w for w in volume.warnings)
    stray = [s for s in scan.stacks if str(victim) in s.files]
    assert stray and stray[0].split_off
    rep = ctlabel.convert([src], tmp_path / "out", progress=False)
    assert len(rep.converted) == 1 and rep.converted[0]["source_files"] == 4
    assert any(s["path"] == str(victim) for s in rep.skipped)


def test_a_folder_of_crashers_is_reported_file_by_file_without_a_traceback(tmp_path):
    src = tmp_path / "crashers"
    src.mkdir()
    base = sorted((CT2 / "dicom").iterdir())[1]
    saved = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        for name, (tag, vr, value) in BAD_HEADERS.items():
            if name == "orientation-nan" or name.startswith(("spacing", "slope", "position")):
                continue  # these need a volume of their own series to be loaded; covered above
            ds = pydicom.dcmread(base)
            _set_raw(ds, tag, vr, value)
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.SeriesInstanceUID = pydicom.uid.generate_uid()
            ds.save_as(src / name)
    finally:
        config.settings.writing_validation_mode = saved
    shutil.copytree(PHILIPS_5MM, src / "good", ignore=shutil.ignore_patterns("DIRFILE"))
    r = run_cli("convert", src, "-o", tmp_path / "out", "--report", tmp_path / "r.json", "-q")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["converted"] == 1  # the good series
    reported = {os.path.basename(f["path"]) for f in report["failed"] + report["skipped"]}
    made = {p.name for p in src.iterdir() if p.is_file()}
    assert made <= reported, made - reported


def test_dicomdir_entries_outside_its_folder_are_refused(tmp_path):
    from pydicom.fileset import FileSet

    outside = tmp_path / "other_patient"
    outside.mkdir()
    shutil.copy(sorted((CT2 / "dicom").iterdir())[0], outside / "IM1")
    media = tmp_path / "media"
    fs = FileSet()
    for f in sorted(PHILIPS_5MM.glob("I*"))[:3]:
        fs.add(pydicom.dcmread(f))
    fs.write(media)
    dicomdir = media / "DICOMDIR"
    ds = pydicom.dcmread(dicomdir)
    records = [r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r]
    records[0].ReferencedFileID = ["..", "other_patient", "IM1"]
    records[1].ReferencedFileID = str(outside / "IM1")
    ds.save_as(dicomdir)
    scan = ctlabel.find_series(dicomdir)
    assert not any("other_patient" in f for s in scan.stacks for f in s.files)
    assert any("outside its folder" in p.reason for p in scan.problems)


def test_pipes_links_and_ctlabel_files_in_the_input_tree(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PHILIPS_5MM, src / "real", ignore=shutil.ignore_patterns("DIRFILE"))
    os.mkfifo(src / "a_pipe")
    (src / "loop").symlink_to(src, target_is_directory=True)  # a link back up the tree
    linked = tmp_path / "elsewhere"
    shutil.copytree(CT2 / "dicom", linked)
    (src / "linked_series").symlink_to(linked, target_is_directory=True)
    (src / "real" / "case.lock").write_text("")  # an abandoned lock of a case folder in the tree
    (src / "real" / "case.json").write_text("{}")
    r = subprocess.run([sys.executable, "-m", "ctlabel", "convert", str(src), "-o", str(tmp_path / "out"), "-q",
                        "--report", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120)
    report = json.loads((tmp_path / "r.json").read_text())
    assert r.returncode == 0, report["failed"]
    assert report["summary"]["converted"] == 2  # the real series, and the one behind the link, once
    notes = {os.path.basename(s["path"]): s["reason"] for s in report["skipped"]}
    assert "not a regular file" in notes["a_pipe"]
    assert not any("case.lock" in s["path"] or "case.json" in s["path"] for s in report["skipped"])
