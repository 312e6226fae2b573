"""DICOM SEG import: BINARY, FRACTIONAL and LABELMAP segmentations land on the case grid as highdicom reads them.

SEGs are made with highdicom inside the tests on the real 3-slice CT (dcmqi ground-truth masks), and real
SEGs from dcmqi's and highdicom's test data (``tests/data/seg``, the shared CT data) are compared with
highdicom's own reading of the same file, segment by segment, on the source images' grid.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import highdicom as hd
import nrrd
import numpy as np
import pydicom
import pytest
from data_paths import CT2, CT3, CT3_TABLE
from pydicom.encaps import encapsulate, generate_fragmented_frames
from pydicom.sr.codedict import codes
from pydicom.uid import RLELossless

from ctlabel import Case, load_series
from ctlabel.errors import CtlabelError, InputError
from ctlabel.intake.importers import import_mask

DCMQI = Path(__file__).resolve().parent / "data" / "seg" / "dcmqi"
GT = CT3 / "ground_truth"
HD_SEG = CT2 / "highdicom_seg"
LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"


def _nrrd_mem(path: Path) -> np.ndarray:
    data, _ = nrrd.read(str(path), index_order="F")
    return np.ascontiguousarray(data.T)


@pytest.fixture
def ct3(tmp_path, ct3_volume):
    return Case.create(tmp_path / "ct3", ct3_volume, label_table=CT3_TABLE)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """dcmqi's liver (1) and spine (2) ground truth on the 3-slice CT grid."""
    return _nrrd_mem(GT / "liver_spine_seg.nrrd").astype(np.uint8)


def _uids(case: Case) -> list[str | None]:
    """SOPInstanceUID of each case slice (None for a slice padded where the acquisition skipped a position)."""
    return [s["SOPInstanceUID"] if s else None for s in case.image_record()["Source"]["Slices"]]


def _sources(case: Case) -> list[pydicom.Dataset]:
    """The CT3 headers in case slice order (highdicom pairs ``pixel_array[k]`` with ``source_images[k]``)."""
    by_uid = {}
    for p in (CT3 / "dicom" / "ct-3slice").glob("*.dcm"):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        ds.SpecificCharacterSet = "ISO_IR 100"  # the files carry an empty value, which highdicom refuses
        by_uid[ds.SOPInstanceUID] = ds
    return [by_uid[u] for u in _uids(case)]


def _desc(number: int, label: str, prop) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(number, label, codes.SCT.Organ, prop, hd.seg.SegmentAlgorithmTypeValues.MANUAL)


def _make_seg(path: Path, case: Case, pixels: np.ndarray, seg_type: str, descriptions, **kw) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the CT's single-component patient name
        seg = hd.seg.Segmentation(_sources(case), pixels, seg_type, descriptions, hd.UID(), 7, hd.UID(), 1,
                                  "test", "ctlabel-tests", "1", "0", **kw)
    seg.save_as(path)
    return path


def _highdicom_masks(path: Path, uids: list[str | None]) -> dict[int, np.ndarray]:
    """highdicom's reading of each non-background segment on the source slices ``uids`` (padded slices,
    None, stay empty; FRACTIONAL: the fraction of MaximumFractionalValue at least 0.5)."""
    seg = hd.seg.segread(str(path))
    background = {0, int(seg.get("PixelPaddingValue", 0))}
    numbers = [n for n in seg.segment_numbers if n not in background]
    ks = [k for k, u in enumerate(uids) if u]
    arr = seg.get_pixels_by_source_instance([uids[k] for k in ks], segment_numbers=numbers,
                                            ignore_spatial_locations=True, assert_missing_frames_are_empty=True,
                                            rescale_fractional=True)
    fractional = seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL
    out = {}
    for i, n in enumerate(numbers):
        out[n] = np.zeros((len(uids), int(seg.Rows), int(seg.Columns)), dtype=bool)
        out[n][ks] = arr[..., i] >= 0.5 if fractional else arr[..., i] > 0
    return out


def _imported_masks(case: Case, version: int) -> dict[int, np.ndarray]:
    m = case.load_version(version)
    return {s["Segment"]: m.array == s["Label"] for s in m.provenance.imported_from["Segments"]}


def _assert_same_as_highdicom(case: Case, version: int, path: Path) -> dict[int, np.ndarray]:
    ref = _highdicom_masks(path, _uids(case))
    got = _imported_masks(case, version)
    assert sorted(got) == sorted(ref)
    for n in ref:
        assert ref[n].any(), f"segment {n} of {path.name} is empty in highdicom's reading"
        assert np.array_equal(got[n], ref[n]), f"segment {n} of {path.name}"
    return got


# --------------------------------------------------------------------------
# LABELMAP: pixel values are segment numbers
# --------------------------------------------------------------------------


def _labelmap(tmp_path: Path, case: Case, truth: np.ndarray, **kw) -> Path:
    """A highdicom LABELMAP with non-consecutive segment numbers: 3 'Spine', 7 'Liver' (plus its Background 0)."""
    pixels = np.select([truth == 1, truth == 2], [7, 3], 0).astype(np.uint8)
    return _make_seg(tmp_path / "labelmap.dcm", case, pixels, "LABELMAP",
                     [_desc(3, "Spine", codes.SCT.Spine), _desc(7, "Liver", codes.SCT.Liver)], **kw)


def test_labelmap_with_background_segment_zero(ct3, truth, tmp_path):
    path = _labelmap(tmp_path, ct3, truth)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == LABELMAP_SOP_CLASS and ds.SegmentationType == "LABELMAP"
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [0, 3, 7]
    n = import_mask(ct3, path, "imp")
    m = ct3.load_version(n)
    # segment 7 'Liver' -> label 1, segment 3 'Spine' -> label 2 of the case table: the ground truth itself
    assert np.array_equal(m.array, truth)
    info = m.provenance.imported_from
    assert info["SegmentationType"] == "LABELMAP"
    assert {s["Segment"]: (s["Name"], s["Label"]) for s in info["Segments"]} == {3: ("Spine", 2), 7: ("Liver", 1)}
    _assert_same_as_highdicom(ct3, n, path)
    # a subset by segment number
    n = import_mask(ct3, path, "imp", segments=[7])
    assert np.array_equal(ct3.load_version(n).array, (truth == 1).astype(np.uint8))


def test_labelmap_without_background_segment(ct3, truth, tmp_path):
    """No segment 0 and no Pixel Padding Value: two segments must not merge into one label."""
    path = _labelmap(tmp_path, ct3, truth)
    ds = pydicom.dcmread(path)
    ds.SegmentSequence = [s for s in ds.SegmentSequence if int(s.SegmentNumber) != 0]
    del ds.PixelPaddingValue
    ds.save_as(path)
    n = import_mask(ct3, path, "imp")
    assert np.array_equal(ct3.load_version(n).array, truth)
    _assert_same_as_highdicom(ct3, n, path)


def test_palette_color_labelmap_reads_stored_segment_numbers(ct3, truth, tmp_path):
    """A PALETTE COLOR labelmap: the stored values are the segment numbers, not the display colours."""
    lut = hd.PaletteColorLUTTransformation.from_colors(["black", "red", "green", "blue", "yellow", "cyan",
                                                        "magenta", "white"])
    path = _labelmap(tmp_path, ct3, truth, palette_color_lut_transformation=lut)
    assert pydicom.dcmread(path).PhotometricInterpretation == "PALETTE COLOR"
    n = import_mask(ct3, path, "imp")
    assert np.array_equal(ct3.load_version(n).array, truth)
    _assert_same_as_highdicom(ct3, n, path)


def test_labelmap_pixel_value_without_a_segment_is_refused(ct3, truth, tmp_path):
    path = _labelmap(tmp_path, ct3, truth)
    ds = pydicom.dcmread(path)
    ds.SegmentSequence = [s for s in ds.SegmentSequence if int(s.SegmentNumber) != 3]
    ds.save_as(path)
    with pytest.raises(InputError, match=r"labelmap\.dcm: .*pixel value\(s\) \[3\].*no segment") as exc:
        import_mask(ct3, path, "imp")
    assert "frame 1" in str(exc.value)
    assert ct3.versions() == []


def test_dcmqi_sparse_labelmaps_match_highdicom_and_dcmqi(tmp_path):
    """dcmqi's LABELMAP SEGs (Background segment 0; one with Pixel Padding Value 5) encode slices 1 and 3
    only; the middle slice stays empty."""
    case = Case.create(tmp_path / "c24", load_series(DCMQI / "24x38x3" / "image"))
    for name, expected in (("sparse-labelmap-noppv.dcm", "sparse_labelmap_noppv_seg.nrrd"),
                           ("sparse-labelmap-ppv5.dcm", "sparse_labelmap_ppv5_seg.nrrd")):
        assert pydicom.dcmread(DCMQI / name).SOPClassUID == LABELMAP_SOP_CLASS
        n = import_mask(case, DCMQI / name, "imp")
        got = _assert_same_as_highdicom(case, n, DCMQI / name)
        assert list(got) == [1]
        assert np.array_equal(got[1], _nrrd_mem(DCMQI / expected) == 1), name  # dcmqi's own reading
        assert not got[1][1].any() and got[1][0].any() and got[1][2].any()
        info = case.load_version(n).provenance.imported_from
        assert [s["Name"] for s in info["Segments"]] == ["Liver"]
        ppv = pydicom.dcmread(DCMQI / name).get("PixelPaddingValue")
        assert info["BackgroundPixelValues"] == sorted({0} | ({int(ppv)} if ppv is not None else set()))


def test_dcmqi_binary_seg_matches_highdicom(tmp_path):
    case = Case.create(tmp_path / "c24", load_series(DCMQI / "24x38x3" / "image"))
    n = import_mask(case, DCMQI / "24x38x3" / "seg" / "label.seg", "imp")
    _assert_same_as_highdicom(case, n, DCMQI / "24x38x3" / "seg" / "label.seg")


# --------------------------------------------------------------------------
# BINARY with two segments
# --------------------------------------------------------------------------


def test_binary_two_segments_by_name(ct3, truth, tmp_path):
    stacked = np.stack([truth == 2, truth == 1], axis=-1).astype(np.uint8)  # segment 1 spine, 2 liver
    path = _make_seg(tmp_path / "binary.dcm", ct3, stacked, "BINARY",
                     [_desc(1, "Spine", codes.SCT.Spine), _desc(2, "Liver", codes.SCT.Liver)])
    n = import_mask(ct3, path, "imp")
    assert np.array_equal(ct3.load_version(n).array, truth)
    _assert_same_as_highdicom(ct3, n, path)


# --------------------------------------------------------------------------
# FRACTIONAL: threshold at half of MaximumFractionalValue
# --------------------------------------------------------------------------


def test_fractional_thresholded_at_half_of_maximum_fractional_value(ct3, truth, tmp_path):
    liver, spine = truth == 1, truth == 2
    left = np.arange(truth.shape[2])[None, None, :] < truth.shape[2] // 2
    p_liver = np.zeros(truth.shape, dtype=np.float32)
    p_liver[0] = np.where(left[0], 0.7, 0.4)[None] * liver[0]  # frame max 0.7: 0.4 is below one half
    p_liver[1] = liver[1] / 200.0  # stored 1 of 200: the frame's maximum is 1
    p_liver[2] = 0.5 * liver[2]  # exactly one half: kept
    p_spine = np.where(spine, 0.9, 0.0).astype(np.float32)
    p_spine[1] = 0.45 * spine[1]  # frame max 0.45: nothing reaches one half
    path = _make_seg(tmp_path / "fractional.dcm", ct3, np.stack([p_liver, p_spine], axis=-1), "FRACTIONAL",
                     [_desc(1, "Liver", codes.SCT.Liver), _desc(2, "Spine", codes.SCT.Spine)],
                     max_fractional_value=200)
    ds = pydicom.dcmread(path)
    assert ds.MaximumFractionalValue == 200
    stored = ds.pixel_array
    n = import_mask(ct3, path, "imp")
    got = _assert_same_as_highdicom(ct3, n, path)
    # the frames that hold only values below 100 of 200 give nothing, however small their own maximum
    frames = {(int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
               f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID): i
              for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence)}
    uid1 = _uids(ct3)[1]
    liver1, spine1 = stored[frames[(1, uid1)]], stored[frames[(2, uid1)]]
    assert liver1.max() == 1 and 0 < spine1.max() < 100
    assert not got[1][1].any() and not got[2][1].any()
    assert np.array_equal(got[1][0], liver[0] & left[0])  # 0.7 kept, 0.4 not
    assert np.array_equal(got[1][2], liver[2]) and np.array_equal(got[2][0], spine[0])
    info = ct3.load_version(n).provenance.imported_from
    assert info["FractionalThreshold"] == 0.5 and info["MaximumFractionalValue"] == 200


@pytest.mark.parametrize("name", ["seg_image_ct_binary.dcm", "seg_image_ct_binary_fractional.dcm",
                                  "seg_image_ct_true_fractional.dcm"])
def test_highdicom_ct_segs_match_highdicom(tmp_path, name):
    """highdicom's own test SEGs on the CT2 series (whose outlying slice makes ctlabel pad the skipped
    positions: padded slices have no source UID and stay empty)."""
    case = Case.create(tmp_path / "ct2", load_series(CT2 / "dicom"))
    assert None in _uids(case)
    path = HD_SEG / name
    n = import_mask(case, path, "imp")
    got = _assert_same_as_highdicom(case, n, path)
    ds = pydicom.dcmread(path)
    if name == "seg_image_ct_true_fractional.dcm":
        # MaximumFractionalValue 255, frames holding 64 and 128 (frame maxima 128): 64 is below one half
        stored = ds.pixel_array
        assert ds.MaximumFractionalValue == 255 and int(stored.max()) == 128 and (stored == 64).any()
        assert sum(int(m.sum()) for m in got.values()) == int((stored >= 128).sum())


# --------------------------------------------------------------------------
# Pixel data that cannot be decoded
# --------------------------------------------------------------------------


def _broken_rle(tmp_path: Path, case: Case, truth: np.ndarray) -> Path:
    path = _labelmap(tmp_path, case, truth, transfer_syntax_uid=RLELossless)
    ds = pydicom.dcmread(path)
    frames = [b"".join(f) for f in generate_fragmented_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames))]
    frames[1] = frames[1][: len(frames[1]) // 3]  # an RLE segment cut short
    ds.PixelData = encapsulate(frames)
    ds.save_as(path)
    return path


def test_broken_rle_is_a_ctlabel_error_naming_the_file(ct3, truth, tmp_path):
    path = _broken_rle(tmp_path, ct3, truth)
    with pytest.raises(CtlabelError) as exc:
        import_mask(ct3, path, "imp")
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ") and "frame 2" in msg and "RLE" in msg
    assert ct3.versions() == []


def test_cli_import_of_broken_rle_exits_2_with_one_error_line(ct3, truth, tmp_path):
    path = _broken_rle(tmp_path, ct3, truth)
    exe = Path(sys.executable).with_name("ctlabel")
    r = subprocess.run([str(exe), "import", str(path), "--case", str(ct3.root), "--user", "imp"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and path.name in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert ct3.versions() == []


def test_frame_of_an_undescribed_segment_is_refused(ct3, truth, tmp_path):
    stacked = np.stack([truth == 1, truth == 2], axis=-1).astype(np.uint8)
    path = _make_seg(tmp_path / "binary.dcm", ct3, stacked, "BINARY",
                     [_desc(1, "Liver", codes.SCT.Liver), _desc(2, "Spine", codes.SCT.Spine)])
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 9
    ds.save_as(path)
    with pytest.raises(InputError, match=r"binary\.dcm: frame 1 refers to segment 9, which the SEG does not describe"):
        import_mask(ct3, path, "imp")
    assert ct3.versions() == []
