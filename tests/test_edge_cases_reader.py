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
        from ctlabel.dicom.read import _decode

        _decode(str(files[1]))
    json.dumps(rep.to_dict())
    assert os.path.exists(files[1])
