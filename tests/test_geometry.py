"""Geometry is proven, not assumed: pixel centres, irregular series policy, dcm2niix as reference."""

import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from data_paths import CT_DATA, GE_TILT, PHILIPS_5MM, oblique_series
from geometry_check import check_pixel_centres

import ctlabel
from ctlabel.errors import SeriesError
from ctlabel.intake.synthetic import SeriesSpec, write_dicom_series


def dcm2niix() -> str:
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    assert Path(exe).exists(), "dcm2niix (pip package) must be installed for the geometry oracle"
    return exe


IRREGULAR = {"non_uniform_spacing", "missing_slices", "gantry_tilt", "duplicate_positions"}


def regular_volumes(tmp_path):
    # the oblique rt-utils set is scanned on its own: its one_slice_data/ copy duplicates a slice
    found = ctlabel.find_series(CT_DATA).volumes() + ctlabel.find_series(
        oblique_series(tmp_path / "oblique")).volumes()
    return [s for s in found if not {w.split(":")[0] for w in s.warnings} & IRREGULAR]


@pytest.mark.slow  # every series in tests/data read twice: ~30 s; the full job runs it, not .ci/run --fast
def test_every_regular_shared_series_maps_pixel_centres_exactly(tmp_path):
    stacks = regular_volumes(tmp_path)
    names = {s.description for s in stacks}
    assert {"STD BRAIN 5MM", "STD BRAIN 1MM, iDose", "SmartScore - Gated 0.5 sec"} <= names
    assert len(stacks) >= 7  # incl. the oblique rt-utils set and the enhanced multi-frame CT
    for n, stack in enumerate(stacks):
        out = tmp_path / f"{n}.nii.gz"
        ctlabel.save_image(out, ctlabel.load_series(stack))
        assert check_pixel_centres(out, stack.files) == stack.n_slices * stack.rows * stack.columns


def test_dcm2niix_and_ctlabel_both_pass_on_the_uniform_philips_series(tmp_path):
    files = sorted(str(p) for p in PHILIPS_5MM.glob("I*"))
    ours = tmp_path / "ct.nii.gz"
    ctlabel.save_image(ours, ctlabel.load_series(PHILIPS_5MM))
    ref_dir = tmp_path / "dcm2niix"
    ref_dir.mkdir()
    exe = dcm2niix()
    subprocess.run([exe, "-z", "y", "-b", "n", "-f", "ref", "-o", str(ref_dir), str(PHILIPS_5MM)],
                   check=True, capture_output=True)
    [ref] = list(ref_dir.glob("*.nii.gz"))
    assert check_pixel_centres(ref, files) == check_pixel_centres(ours, files) == 28 * 512 * 512
    # Same voxels in the same world positions: the two affines describe one grid.
    a, b = nib.load(ours), nib.load(ref)
    corner = np.array([[0, 0, 0, 1], [511, 511, 27, 1]]).T
    world_ours = a.affine @ corner
    # dcm2niix flips rows; find the same corners in its index space through its affine
    ijk = np.linalg.inv(b.affine) @ world_ours
    assert np.allclose(ijk, np.round(ijk), atol=1e-3)


def test_tilted_uniform_series_is_exact_in_the_sheared_sform(tmp_path):
    """The 14 'ADD' slices of the GE series are evenly spaced and tilted 18.5 degrees."""
    files = sorted(GE_TILT.glob("*.dcm"))[:14]
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    vol = ctlabel.load_series(tmp_path)
    assert "gantry_tilt" in vol.warning_codes and "non_uniform_spacing" not in vol.warning_codes
    out = tmp_path / "ct.nii.gz"
    ctlabel.save_image(out, vol)
    check_pixel_centres(out, files)
    img = nib.load(out)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    q = img.get_qform()
    normal = np.cross(q[:3, 0], q[:3, 1])
    assert abs(abs(q[:3, 2] @ normal) / (np.linalg.norm(q[:3, 2]) * np.linalg.norm(normal)) - 1) < 1e-6
    assert vol.spacing[0] == pytest.approx(4.22 * np.cos(np.radians(18.5)), abs=0.01)
    import SimpleITK as sitk  # ITK rejects a sheared direction; it must still open the file via the qform

    assert sitk.GetArrayFromImage(sitk.ReadImage(str(out))).shape == vol.shape


def test_irregular_ge_series_policy_keep_and_error(tmp_path):
    vol = ctlabel.load_series(GE_TILT)
    assert vol.shape == (28, 512, 512)
    assert {"gantry_tilt", "non_uniform_spacing"} <= set(vol.warning_codes)
    gaps = np.diff(vol.slice_positions_mm)
    assert gaps.min() == pytest.approx(1.08, abs=0.01) and gaps.max() == pytest.approx(7.0, abs=0.01)
    rec = ctlabel.save_image(tmp_path / "ct.nii.gz", vol)
    assert len(rec["Geometry"]["SlicePositionsMM"]) == 28
    assert len(rec["Source"]["Slices"]) == 28
    with pytest.raises(SeriesError, match="irregular geometry"):
        ctlabel.load_series(GE_TILT, irregular="error")


def test_irregular_policy_matches_dcm2niix_primary_output(tmp_path):
    """dcm2niix's primary output also keeps all 28 acquired slices unresampled."""
    exe = dcm2niix()
    subprocess.run([exe, "-z", "y", "-b", "n", "-f", "ref", "-o", str(tmp_path), str(GE_TILT)],
                   check=True, capture_output=True)
    ref = nib.load(tmp_path / "ref.nii.gz")
    ref_mem = np.asanyarray(ref.dataobj).T  # (slice, row, column), rows flipped by dcm2niix
    vol = ctlabel.load_series(GE_TILT)
    assert ref_mem.shape == vol.shape
    assert np.array_equal(ref_mem[:, ::-1, :], vol.array)


def _series(folder, n=10, **kw):
    rng = np.random.default_rng(1)
    hu = rng.integers(-1000, 1000, size=(n, 8, 8)).astype(np.int16)
    write_dicom_series(folder, hu, SeriesSpec(spacing=(2.0, 0.5, 0.5), **kw))
    return hu


def test_missing_slice_is_padded_on_the_uniform_grid_or_an_error(tmp_path):
    hu = _series(tmp_path, shuffle_names=False)
    (tmp_path / "IM00005.dcm").unlink()
    vol = ctlabel.load_series(tmp_path)
    assert vol.shape[0] == 10 and "missing_slices" in vol.warning_codes
    assert vol.missing_slices == (5,) and vol.source.slices[5] is None
    assert np.array_equal(np.delete(vol.array, 5, axis=0), np.delete(hu, 5, axis=0))
    assert (vol.array[5] == -1024).all()
    assert vol.spacing[0] == pytest.approx(2.0)
    with pytest.raises(SeriesError):
        ctlabel.load_series(tmp_path, irregular="error")


def test_identical_duplicate_slice_is_dropped(tmp_path):
    hu = _series(tmp_path, shuffle_names=False)
    import pydicom

    ds = pydicom.dcmread(tmp_path / "IM00003.dcm")
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    ds.save_as(tmp_path / "IM_copy.dcm")
    vol = ctlabel.load_series(tmp_path)
    assert vol.shape[0] == 10 and np.array_equal(vol.array, hu)
    assert any("identical duplicate" in w for w in vol.warnings)


def test_conflicting_slices_at_one_position_are_refused(tmp_path):
    _series(tmp_path, shuffle_names=False)
    import pydicom

    ds = pydicom.dcmread(tmp_path / "IM00003.dcm")
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    arr = ds.pixel_array.copy()
    arr[0, 0] += 7
    ds.PixelData = arr.tobytes()
    ds.save_as(tmp_path / "IM_conflict.dcm")
    with pytest.raises(SeriesError, match="share a position but hold different pixels"):
        ctlabel.load_series(tmp_path)


def test_four_slices_at_one_position_become_four_single_images(tmp_path):
    hu = np.stack([np.full((8, 8), v, np.int16) for v in (0, 10, 20, 30)])
    write_dicom_series(tmp_path, hu, SeriesSpec(positions=np.zeros((4, 3)), shuffle_names=False))
    result = ctlabel.find_series(tmp_path)
    assert [s.kind for s in result.stacks] == ["single"] * 4
    values = sorted(int(ctlabel.load_series(s).array[0, 0, 0]) for s in result.stacks)
    assert values == [0, 10, 20, 30]


def test_order_comes_from_positions_not_file_names(tmp_path):
    hu = _series(tmp_path, shuffle_names=True)
    assert np.array_equal(ctlabel.load_series(tmp_path).array, hu)


def test_sagittal_series_geometry(tmp_path):
    hu = _series(tmp_path, n=6, orientation=(0, 1, 0, 0, 0, -1), origin=(10.0, -20.0, 30.0))
    vol = ctlabel.load_series(tmp_path)
    assert np.array_equal(vol.array, hu)
    out = tmp_path / "ct.nii.gz"
    ctlabel.save_image(out, vol)
    check_pixel_centres(out, sorted(Path(tmp_path).glob("IM*.dcm")))
