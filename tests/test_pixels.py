"""Pixel data: every transfer syntax in the shared data decodes, HU and dtypes are right."""

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from data_paths import CT_DATA, PHILIPS_5MM, oblique_series
from geometry_check import dicom_frames

import ctlabel
from ctlabel.errors import InputError, SeriesError

SINGLE_FILES = sorted(
    [*(CT_DATA / "pydicom_ct" / "single_slices_compressed").glob("*.dcm"),
     *(CT_DATA / "pylibjpeg_data_ct").glob("*/*.dcm"),
     CT_DATA / "pydicom_ct" / "ct_small" / "CT_small.dcm"]
)


def sitk_hu(path):
    """SimpleITK's (GDCM's) decoding in HU, or None when it cannot decode the file."""
    try:
        img = sitk.ReadImage(str(path), sitk.sitkFloat64)
    except RuntimeError:
        return None
    return sitk.GetArrayFromImage(img)[0]


def test_the_shared_data_covers_the_compressed_transfer_syntaxes():
    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID.name)
                for p in SINGLE_FILES}
    assert {"JPEG 2000 Image Compression", "JPEG 2000 Image Compression (Lossless Only)",
            "JPEG-LS Lossy (Near-Lossless) Image Compression"} <= syntaxes
    assert any("Process 14" in s for s in syntaxes)


@pytest.mark.parametrize("path", SINGLE_FILES, ids=lambda p: p.stem)
def test_every_file_that_a_reference_decodes_decodes_here_with_the_same_hu(path):
    ref = sitk_hu(path)
    stack = ctlabel.find_series(path).stacks[0]
    if stack.kind == "localizer":  # listed, never loaded as a volume; its pixels still decode
        with pytest.raises(SeriesError, match="localizer"):
            ctlabel.load_series(stack)
        from ctlabel.dicom.frames import read_frames as _read_frames

        frames = _read_frames(str(path), stack.slices[0], stack.rows, stack.columns)
        ds = pydicom.dcmread(path)
        assert np.array_equal(frames[0], ds.pixel_array)
        if ref is not None:
            assert np.allclose(frames[0] * float(ds.RescaleSlope) + float(ds.RescaleIntercept), ref)
        return
    vol = ctlabel.load_series(stack)
    assert vol.shape[0] == 1
    # our decode agrees with pydicom's own decode (HU from stored values)
    ds = pydicom.dcmread(path)
    expect = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    assert np.allclose(vol.array[0], expect)
    if ref is not None:
        # and with GDCM wherever GDCM can decode it
        assert np.allclose(vol.array[0], ref), f"{path.name}: HU differ from SimpleITK"


def test_lossless_and_uncompressed_copies_agree():
    d = CT_DATA / "pydicom_ct" / "single_slices_compressed"
    a = ctlabel.load_series(d / "693_J2KR.dcm").array
    b = ctlabel.load_series(d / "693_UNCR.dcm").array
    assert np.array_equal(a, b)
    lossy = ctlabel.load_series(d / "693_J2KI.dcm").array
    assert np.array_equal(lossy, ctlabel.load_series(d / "693_UNCI.dcm").array)


def test_pixel_representation_is_followed_like_gdcm_and_pydicom():
    """Two Toshiba files hold one J2K image; their PixelRepresentation disagrees with the codestream.

    ctlabel follows the data set's PixelRepresentation, as GDCM (SimpleITK) and pydicom do.
    """
    d = CT_DATA / "pylibjpeg_data_ct"
    signed = d / "TOSHIBA_J2K_SIZ0_PixRep1" / "TOSHIBA_J2K_SIZ0_PixRep1.dcm"
    unsigned = d / "TOSHIBA_J2K_SIZ1_PixRep0" / "TOSHIBA_J2K_SIZ1_PixRep0.dcm"
    a = ctlabel.load_series(signed).array[0]
    b = ctlabel.load_series(unsigned).array[0]
    assert np.array_equal(a, sitk_hu(signed)) and np.array_equal(b, sitk_hu(unsigned))
    assert a.dtype == np.int16 and a.min() == -2048
    assert np.array_equal(b.astype(np.uint16).view(np.int16), a)  # same bits, other signedness


def test_enhanced_multiframe_ct_is_a_volume():
    vol = ctlabel.load_series(CT_DATA / "pydicom_ct" / "enhanced_ct_2frame")
    assert vol.shape == (2, 512, 512)
    assert sorted(s.frame for s in vol.source.slices) == [1, 2]  # ordered by position, not frame number
    frames = list(dicom_frames(CT_DATA / "pydicom_ct" / "enhanced_ct_2frame" / "eCT_Supplemental.dcm"))
    assert not np.array_equal(frames[0][3], frames[1][3])
    for frame in frames:  # each frame is one slice of the volume (its place: test_geometry)
        assert any(np.array_equal(vol.array[k], frame[3]) for k in range(2))


def test_int16_when_exact_float32_otherwise(tmp_path):
    assert ctlabel.load_series(PHILIPS_5MM).array.dtype == np.int16
    oblique = ctlabel.load_series(oblique_series(tmp_path))
    assert oblique.array.dtype == np.float32  # RescaleSlope 0.001
    ds = pydicom.dcmread(CT_DATA / "rtutils_ct_rtstruct" / "oriented_data" / "0.dcm")
    assert np.allclose(oblique.array[0], ds.pixel_array * 0.001, atol=1e-6)


def test_values_beyond_int16_become_float32(tmp_path):
    from ctlabel.intake.synthetic import SeriesSpec, write_dicom_series

    write_dicom_series(tmp_path, np.zeros((3, 4, 4), np.int16), SeriesSpec(shuffle_names=False))
    for f in sorted(tmp_path.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.RescaleSlope = "20"
        arr = np.full((4, 4), 4000, np.uint16)
        ds.PixelData = arr.tobytes()
        ds.save_as(f)
    vol = ctlabel.load_series(tmp_path)
    assert vol.array.dtype == np.float32 and float(vol.array.max()) == 4000 * 20 - 1024


def test_slice_hashes_survive_a_transfer_syntax_change():
    d = CT_DATA / "pydicom_ct" / "single_slices_compressed"
    a = ctlabel.load_series(d / "693_J2KR.dcm").source.slices[0].pixel_sha256
    b = ctlabel.load_series(d / "693_UNCR.dcm").source.slices[0].pixel_sha256
    assert a == b


def test_truncated_pixel_data_is_a_clear_error(tmp_path):
    src = (PHILIPS_5MM / "I10").read_bytes()
    (tmp_path / "I10").write_bytes(src[: len(src) - 100_000])
    with pytest.raises(InputError) as info:  # found by the header scan: the file holds too few bytes
        ctlabel.load_series(tmp_path)
    assert "I10" in str(info.value) and "file holds" in str(info.value)


@pytest.mark.parametrize("dtype", ["<u2", "<i2", ">u2", "|u1"])
def test_hu_conversion_is_exact_for_every_stored_type(dtype):
    """The wrap-around int16 fast path gives what exact int32 arithmetic gives, whenever int16 holds it."""
    from types import SimpleNamespace

    from ctlabel.dicom.read import _to_hu

    rng = np.random.default_rng(3)
    info = np.iinfo(np.dtype(dtype))
    for icpt in (-1024, 0, -32768, 1000, -3000):
        lo, hi = (info.min, info.max) if icpt == -3000 else (max(info.min, -2048), min(info.max, 4095))
        stored = rng.integers(lo, hi, size=(64, 64), endpoint=True).astype(dtype)
        out = np.empty((1, 64, 64), np.int16)
        fits = _to_hu(stored, SimpleNamespace(slope=1.0, intercept=float(icpt)), out, 0)
        exact = stored.astype(np.int64) + icpt
        if exact.min() >= -32768 and exact.max() <= 32767:
            assert fits and np.array_equal(out[0], exact)
        else:
            assert not fits
