"""Edge cases of the DICOM reader that escaped (issue 22): each is a real series with one thing changed.

Near-zero spacing, FloatPixelData, deflate bombs, unreadable folders, truncated pixel data and
odd rescale slopes: each is one failed (or warned) entry naming the file and the reason, never an
internal error, a silent conversion or unbounded memory.
"""

import json
import os

import numpy as np
import pydicom
import pytest
from data_paths import CT2
from pydicom import config

import ctlabel


def _series(tmp_path, edit, victims=None):
    """pydicom's CT2 series (4 slices of 16x16) with ``edit(ds, i)`` applied to the files ``victims`` (all)."""
    src = tmp_path / "src"
    src.mkdir()
    files = sorted((CT2 / "dicom").iterdir())
    saved = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        for i, f in enumerate(files):
            ds = pydicom.dcmread(f)
            if victims is None or i in victims:
                edit(ds, i)
            ds.save_as(src / f.name)
    finally:
        config.settings.writing_validation_mode = saved
    return src, [src / f.name for f in files]


def _convert(src, tmp_path):
    rep = ctlabel.convert([src], tmp_path / "out", progress=False)
    assert not any(f["reason"].startswith("internal error") for f in rep.failed), rep.failed
    return rep


# --- 6. spacing outside the physical range ---------------------------------------------------------

@pytest.mark.parametrize("value", ["1e-300", "5e-324", "1e-5", "1e308", "5000"])
def test_pixel_spacing_outside_the_physical_range_is_refused_naming_the_attribute(tmp_path, value):
    src, files = _series(tmp_path, lambda ds, i: setattr(ds, "PixelSpacing", [value, value]))
    rep = _convert(src, tmp_path)
    assert not rep.converted
    failed = {f["path"]: f["reason"] for f in rep.failed}
    assert set(failed) == {str(f) for f in files}
    assert all("PixelSpacing" in r and "0.001" in r for r in failed.values()), failed


@pytest.mark.parametrize("value", ["1e-300", "5e-324", "2e4"])
def test_slice_thickness_outside_the_physical_range_is_refused(tmp_path, value):
    """A series of one image takes its slice spacing from SliceThickness: 1e-300 mm slices are refused."""
    src, files = _series(tmp_path, lambda ds, i: setattr(ds, "SliceThickness", value))
    for f in files[1:]:
        f.unlink()
    rep = _convert(src, tmp_path)
    assert not rep.converted
    [failed] = rep.failed
    assert failed["path"] == str(files[0]) and "SliceThickness" in failed["reason"]


def test_slices_further_apart_than_the_physical_range_are_refused(tmp_path):
    def apart(ds, i):
        ds.ImagePositionPatient = [0, 0, 1500.0 * i]
    src, _ = _series(tmp_path, apart)
    rep = _convert(src, tmp_path)
    assert not rep.converted
    assert any("1500 mm apart" in f["reason"] and "physical range" in f["reason"] for f in rep.failed), rep.failed


def test_a_real_series_at_fine_spacing_still_converts(tmp_path):
    src, _ = _series(tmp_path, lambda ds, i: setattr(ds, "PixelSpacing", ["0.002", "0.002"]))
    rep = _convert(src, tmp_path)
    assert len(rep.converted) == 1 and rep.converted[0]["spacing"][1:] == [0.002, 0.002]


# --- 7. FloatPixelData without PixelData ----------------------------------------------------------

def test_float_pixel_data_without_pixel_data_is_a_clear_error(tmp_path):
    def to_float(ds, i):
        arr = ds.pixel_array.astype(np.float32)
        del ds.PixelData
        ds.FloatPixelData = arr.tobytes()
        ds.BitsAllocated = 32
        del ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    src, files = _series(tmp_path, to_float, victims={1})
    rep = _convert(src, tmp_path)
    failed = {f["path"]: f["reason"] for f in rep.failed}
    assert "FloatPixelData" in failed.get(str(files[1]), ""), rep.failed
    with pytest.raises(ctlabel.CtlabelError, match="FloatPixelData"):
        from ctlabel.dicom.frames import decode_file as _decode

        _decode(str(files[1]))
    json.dumps(rep.to_dict())
    assert os.path.exists(files[1])


# --- 8. deflated files: inflated within what the header declares -----------------------------------

def _deflated_copy(src_file, dst):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(src_file)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(dst, enforce_file_format=True)


def test_a_deflated_real_series_converts_to_the_same_voxels(tmp_path):
    src = tmp_path / "deflated"
    src.mkdir()
    for f in sorted((CT2 / "dicom").iterdir()):
        _deflated_copy(f, src / f.name)
    assert b"1.2.840.10008.1.2.1.99" in (src / f.name).read_bytes()[:1024]
    rep = _convert(src, tmp_path)
    plain = ctlabel.convert([CT2 / "dicom"], tmp_path / "plain", progress=False)
    assert len(rep.converted) == 1 and not rep.failed
    a = ctlabel.Case(tmp_path / "out" / rep.converted[0]["case"]).load_image()
    b = ctlabel.Case(tmp_path / "plain" / plain.converted[0]["case"]).load_image()
    assert np.array_equal(a.array, b.array) and np.allclose(a.affine, b.affine)


def _bomb(tmp_path, where: str, zeros: int = 1 << 30):
    """A real CT2 slice, deflated, with ``zeros`` zero bytes in a private element (before the pixels) or
    in trailing padding (after them): about 1 MB on disk, 1 GiB inflated, declaring a 16 x 16 image."""
    import io
    import struct
    import zlib

    from pydicom.uid import ExplicitVRLittleEndian

    f = sorted((CT2 / "dicom").iterdir())[0]
    _deflated_copy(f, tmp_path / "ref.dcm")
    head = (tmp_path / "ref.dcm").read_bytes()

    def meta_end(b: bytes) -> int:  # after (0002,0000) FileMetaInformationGroupLength, as pydicom writes it
        assert b[128:132] == b"DICM" and b[132:138] == b"\x02\x00\x00\x00UL"
        return 144 + int.from_bytes(b[140:144], "little")

    ds = pydicom.dcmread(f)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    body = buf.getvalue()[meta_end(buf.getvalue()):]
    if where == "private":
        at = body.index(b"\xe0\x7f\x10\x00")
        creator = struct.pack("<HH", 0x0009, 0x0010) + b"LO" + struct.pack("<H", 12) + b"CTLABEL TEST"
        before, after = body[:at] + creator + struct.pack("<HH", 0x0009, 0x1001) + b"OB\0\0", body[at:]
    else:
        before, after = body + struct.pack("<HH", 0xFFFC, 0xFFFC) + b"OB\0\0", b""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = c.compress(before + struct.pack("<I", zeros)) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)  # after a full flush: repeatable
    out = tmp_path / f"bomb_{where}"
    with open(out, "wb") as fh:
        fh.write(head[:meta_end(head)] + start)
        for _ in range(zeros >> 20):
            fh.write(block)
        fh.write(c.compress(after) + c.flush())
    assert out.stat().st_size < 2 * 1024 * 1024
    return out


@pytest.mark.parametrize("where", ["private", "trailing"])
def test_a_deflate_bomb_is_refused_quickly_within_bounded_memory(tmp_path, where):
    import time
    import tracemalloc

    from ctlabel.dicom.frames import decode_file as _decode
    from ctlabel.dicom.records import read_records

    bomb = _bomb(tmp_path, where)
    tracemalloc.start()
    try:
        start = time.monotonic()
        [(record, problems)] = read_records([bomb])
        with pytest.raises(ctlabel.CtlabelError, match="deflate"):
            _decode(str(bomb))
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert record is None and "deflate" in problems[0].reason and problems[0].path == str(bomb)
    assert peak < 100 * 1024 * 1024, f"{peak / 2**20:.0f} MB"
    assert elapsed < 10, elapsed


# --- 12. silent cases: unreadable folders, truncated slices, odd slopes, Case("str") ----------------

def test_an_unreadable_folder_in_a_batch_is_reported_as_failed(tmp_path, monkeypatch):
    """chmod 0 does not stop root, so the refusal is what os.scandir raises for that folder."""
    import shutil

    src = tmp_path / "tree"
    shutil.copytree(CT2 / "dicom", src / "good")
    shutil.copytree(CT2 / "dicom", src / "locked")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(src / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    rep = ctlabel.convert([src], tmp_path / "out", progress=False)
    assert len(rep.converted) == 1
    failed = {f["path"]: f["reason"] for f in rep.failed}
    assert "Permission denied" in failed.get(str(src / "locked"), ""), rep.to_dict()
    assert "cannot read the folder" in rep.summary_text()


@pytest.mark.parametrize("keep", [100, 200, 600, 1200, -513, -512, -100, -2, -1])
def test_a_slice_truncated_anywhere_is_reported_with_its_name_never_padded(tmp_path, keep):
    src, files = _series(tmp_path, lambda ds, i: None, victims=set())
    victim = files[1]
    victim_uid = pydicom.dcmread(victim).SOPInstanceUID
    data = victim.read_bytes()
    victim.write_bytes(data[:keep] if keep > 0 else data[:len(data) + keep])
    rep = _convert(src, tmp_path)
    assert any(f["path"] == str(victim) for f in rep.failed), rep.failed
    for c in rep.converted:  # what converts is the three whole slices, the damaged one is not among them
        assert c["source_files"] == 3
        side = json.loads((tmp_path / "out" / c["case"] / "ct.json").read_text())
        uids = {s["SOPInstanceUID"] for s in side["Source"]["Slices"] if s}
        assert len(uids) == 3 and victim_uid not in uids


def test_a_negative_rescale_slope_converts_with_a_warning_naming_the_file(tmp_path):
    src, files = _series(tmp_path, lambda ds, i: setattr(ds, "RescaleSlope", "-1"), victims={2})
    rep = _convert(src, tmp_path)
    [case] = rep.converted
    warned = [w for w in case["warnings"] if w.startswith("negative_rescale_slope")]
    assert warned and files[2].name in warned[0], case["warnings"]
    stack = ctlabel.find_series(src).volumes()[0]
    assert any(w.startswith("negative_rescale_slope") for w in stack.warnings)


@pytest.mark.parametrize("value", ["0", "-0", "0.0"])
def test_a_zero_rescale_slope_is_refused_naming_the_file(tmp_path, value):
    src, files = _series(tmp_path, lambda ds, i: setattr(ds, "RescaleSlope", value), victims={2})
    rep = _convert(src, tmp_path)
    failed = {f["path"]: f["reason"] for f in rep.failed}
    assert "RescaleSlope" in failed.get(str(files[2]), ""), rep.failed


def test_a_case_accepts_a_str_path_and_refuses_anything_else(tmp_path):
    rep = ctlabel.convert([CT2 / "dicom"], tmp_path / "out", progress=False)
    folder = str(tmp_path / "out" / rep.converted[0]["case"])
    case = ctlabel.Case(folder)
    assert case.image_path.exists() and case.load_image().array.shape[1:] == (16, 16)
    assert ctlabel.Case(folder) == ctlabel.Case(os.fsencode(folder).decode())
    with pytest.raises(ctlabel.CtlabelError, match="folder path"):
        ctlabel.Case(5)


# --- 15. the uneven-spacing warning says how far slices end up from where they were acquired --------

def test_the_uneven_spacing_warning_gives_the_largest_distance_from_the_acquired_positions(tmp_path, capsys):
    from data_paths import GE_TILT

    from ctlabel.cli.main import main

    vol = ctlabel.load_series(GE_TILT)
    [warning] = [w for w in vol.warnings if w.startswith("non_uniform_spacing")]
    pos = np.asarray(vol.slice_positions_mm, float)
    spacing = vol.spacing[0]
    drift = np.max(np.abs(pos - pos[0] - spacing * np.arange(pos.size)))
    assert drift > 1 and f"up to {drift:.3g} mm from their acquired positions" in warning, warning
    assert "--" not in warning  # the core names no command-line flag
    assert main(["convert", str(GE_TILT), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert "--irregular split" in capsys.readouterr().out


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_a_compressed_slice_cut_in_its_pixel_data_says_so(tmp_path, fraction):
    """A JPEG-LS CT slice (pylibjpeg's test data) cut inside its pixel data: pydicom drops the element."""
    from data_paths import CT_DATA

    f = CT_DATA / "pylibjpeg_data_ct" / "CT1_JLSN" / "CT1_JLSN.dcm"
    src = tmp_path / "src"
    src.mkdir()
    data = f.read_bytes()
    (src / f.name).write_bytes(data[: int(len(data) * fraction)])
    rep = _convert(src, tmp_path)
    [failed] = rep.failed
    assert failed["path"] == str(src / f.name) and "cut short" in failed["reason"], failed
