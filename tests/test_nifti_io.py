"""Images and masks on disk: round trips, headers, provenance sidecars, atomic writes, grid checks."""

import gzip
import json

import jsonschema
import nibabel as nib
import numpy as np
import pytest
from data_paths import GE_TILT, PHILIPS_5MM

import ctlabel
from ctlabel.errors import GeometryError, InputError
from ctlabel.io import nifti as nifti_io
from ctlabel.io.provenance import read_sidecar, schema
from ctlabel.volume import Grid, voxel_hash


@pytest.fixture(scope="module")
def philips():
    return ctlabel.load_series(PHILIPS_5MM)


def test_image_round_trip_keeps_voxels_affine_and_identity(tmp_path, philips):
    path = tmp_path / "ct.nii.gz"
    record = ctlabel.save_image(path, philips)
    img = nib.load(path)
    # on disk: i = column, j = row, k = slice; the in-memory array transposed
    assert img.shape == (512, 512, 28)
    assert np.array_equal(np.asanyarray(img.dataobj), philips.array.T)
    assert int(img.header["qform_code"]) == 1 and int(img.header["sform_code"]) == 1
    assert np.allclose(img.get_qform(), img.get_sform(), atol=1e-4)
    back = ctlabel.load_image(path)
    assert np.array_equal(back.array, philips.array) and np.allclose(back.affine, philips.affine)
    assert back.source.series_hash == philips.source.series_hash
    assert record["Source"]["SeriesPixelSHA256"] == philips.source.series_hash
    assert record["VoxelSHA256"] == voxel_hash(back.array, back.affine)


def test_sidecars_follow_the_documented_schema_and_header_extension_copies_it(tmp_path, philips):
    path = tmp_path / "ct.nii.gz"
    ctlabel.save_image(path, philips)
    side = read_sidecar(tmp_path / "ct.json")
    jsonschema.validate(side, schema())
    assert nifti_io.read_nifti(path).extension_json == side
    mask = np.zeros(philips.shape, np.uint8)
    mask[10, 100:200, 100:200] = 2
    ctlabel.save_mask(tmp_path / "m_dseg.nii.gz", mask, philips, painted={2: [10]}, annotator="ann1",
                      label_table=ctlabel.default_label_table())
    m = read_sidecar(tmp_path / "m_dseg.json")
    jsonschema.validate(m, schema())
    assert m["Labels"]["2"]["Name"] == ctlabel.default_label_table()[2].name
    assert m["Labels"]["2"]["PaintedSlices"] == [10]
    assert m["Source"]["SeriesInstanceUID"] == philips.source.series_uid


def test_mask_is_uint8_label_intent_on_the_image_grid(tmp_path, philips):
    mask = np.zeros(philips.shape, np.int64)
    mask[3:6, 50:60, 70:90] = 7
    ctlabel.save_mask(tmp_path / "m_dseg.nii.gz", mask, philips)
    img = nib.load(tmp_path / "m_dseg.nii.gz")
    assert img.get_data_dtype() == np.uint8
    assert int(img.header["intent_code"]) == nifti_io.INTENT_LABEL
    assert np.allclose(img.affine, philips.affine)
    back = ctlabel.load_mask(tmp_path / "m_dseg.nii.gz", philips)
    assert np.array_equal(back.array, mask) and back.hash_matches


def test_more_than_255_labels_use_uint16_and_keep_values(tmp_path):
    grid = Grid((2, 4, 4), np.eye(4))
    mask = np.arange(32, dtype=np.int32).reshape(2, 4, 4) * 20
    ctlabel.save_mask(tmp_path / "m_dseg.nii.gz", mask, grid)
    back = ctlabel.load_mask(tmp_path / "m_dseg.nii.gz")
    assert back.array.dtype == np.uint16 and np.array_equal(back.array, mask)
    with pytest.raises(InputError, match="0..65535"):
        ctlabel.save_mask(tmp_path / "bad_dseg.nii.gz", mask - 1, grid)


def test_mask_against_a_different_grid_is_an_error_never_a_resample(tmp_path, philips):
    mask = np.zeros(philips.shape, np.uint8)
    ctlabel.save_mask(tmp_path / "m_dseg.nii.gz", mask, philips)
    other = ctlabel.load_series(GE_TILT)
    with pytest.raises(GeometryError, match="never resamples"):
        ctlabel.load_mask(tmp_path / "m_dseg.nii.gz", other)
    with pytest.raises(GeometryError):
        ctlabel.save_mask(tmp_path / "x_dseg.nii.gz", mask[:-1], philips)
    shifted = philips.grid.affine.copy()
    shifted[0, 3] += 0.5
    with pytest.raises(GeometryError, match="affine differs"):
        ctlabel.load_mask(tmp_path / "m_dseg.nii.gz", Grid(philips.shape, shifted))


def test_mask_identity_survives_a_header_rewrite(tmp_path, philips):
    mask = np.zeros(philips.shape, np.uint8)
    mask[5, 10:20, 10:20] = 1
    record = ctlabel.save_mask(tmp_path / "m_dseg.nii.gz", mask, philips)
    img = nib.load(tmp_path / "m_dseg.nii.gz")
    data = np.asanyarray(img.dataobj).copy()
    fresh = nib.Nifti1Image(data, img.affine)  # new header, no extension
    fresh.header["descrip"] = b"rewritten by another tool"
    nib.save(fresh, tmp_path / "m_dseg.nii.gz")
    back = ctlabel.load_mask(tmp_path / "m_dseg.nii.gz", philips)
    assert back.voxel_hash == record.voxel_sha256 and back.hash_matches
    # an edit of one voxel does change it
    data[0, 0, 0] = 1
    nib.save(nib.Nifti1Image(data, img.affine), tmp_path / "m_dseg.nii.gz")
    assert not ctlabel.load_mask(tmp_path / "m_dseg.nii.gz").hash_matches


def test_a_crash_mid_write_leaves_the_previous_file_intact(tmp_path, philips, monkeypatch):
    path = tmp_path / "m_dseg.nii.gz"
    first = np.zeros(philips.shape, np.uint8)
    first[1, 1, 1] = 1
    ctlabel.save_mask(path, first, philips)
    before = path.read_bytes()

    class Crash(Exception):
        pass

    real_open = nifti_io.igzip_threaded.open

    def crashing_open(*a, **k):
        f = real_open(*a, **k)
        orig_write = f.write
        calls = {"n": 0}

        def write(data):
            calls["n"] += 1
            if calls["n"] == 2:  # after the header, in the middle of the voxels
                raise Crash()
            return orig_write(data)

        f.write = write
        return f

    monkeypatch.setattr(nifti_io.igzip_threaded, "open", crashing_open)
    with pytest.raises(Crash):
        ctlabel.save_mask(path, np.ones(philips.shape, np.uint8), philips)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert np.array_equal(ctlabel.load_mask(path).array, first)


def test_the_gzip_stream_is_standard(tmp_path, philips):
    ctlabel.save_image(tmp_path / "ct.nii.gz", philips)
    with gzip.open(tmp_path / "ct.nii.gz") as f:
        raw = f.read()
    assert len(raw) >= 352 + philips.array.nbytes
    import SimpleITK as sitk

    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ct.nii.gz"))), philips.array)


def test_unreadable_nifti_and_bad_sidecar_are_clear_errors(tmp_path):
    (tmp_path / "x.nii.gz").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read as NIfTI"):
        ctlabel.load_mask(tmp_path / "x.nii.gz")
    grid = Grid((1, 2, 2), np.eye(4))
    ctlabel.save_mask(tmp_path / "m_dseg.nii.gz", np.zeros((1, 2, 2), np.uint8), grid)
    (tmp_path / "m_dseg.json").write_text(json.dumps({"Kind": "mask"}))
    with pytest.raises(ctlabel.CtlabelError, match="m_dseg.json"):
        ctlabel.load_mask(tmp_path / "m_dseg.nii.gz")


def test_label_table_round_trip_and_errors(tmp_path):
    table = ctlabel.default_label_table()
    from ctlabel.io.labels import write_label_table

    write_label_table(tmp_path / "labels.tsv", table)
    assert ctlabel.read_label_table(tmp_path / "labels.tsv") == table
    header = (tmp_path / "labels.tsv").read_text().splitlines()[0].split("\t")
    assert header == ["index", "name", "abbreviation", "color", "tissue"]
    (tmp_path / "bad.tsv").write_text("index\tname\tcolor\n1\tliver\tred\n")
    with pytest.raises(InputError, match="bad.tsv"):
        ctlabel.read_label_table(tmp_path / "bad.tsv")
    (tmp_path / "dup.tsv").write_text("index\tname\n1\ta\n1\tb\n")
    with pytest.raises(InputError, match="twice"):
        ctlabel.read_label_table(tmp_path / "dup.tsv")


@pytest.mark.parametrize("cls", [nib.Nifti1Image, nib.Nifti2Image])
@pytest.mark.parametrize("order", ["<", ">"])
def test_gzip_nifti_read_with_isal_matches_nibabel(tmp_path, cls, order):
    """NIfTI-1 and -2, either byte order, gzipped or not: the voxels, affine and extension nibabel reads."""
    rng = np.random.default_rng(1)
    arr = rng.integers(-1024, 3000, (7, 6, 5)).astype(np.int16)
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    header = cls.header_class(endianness=order)
    header.extensions.append(nib.nifti1.Nifti1Extension(nifti_io.JSON_EXTENSION_CODE, b'{"a": 1}'))
    img = cls(arr, affine, header)
    raw = img.to_bytes()
    assert img.header.endianness == order
    # the name does not decide: an upload is spooled as .nii.gz whether or not it is compressed
    for name, payload in (("m.nii", raw), ("m.nii.gz", gzip.compress(raw)), ("plain.nii.gz", raw),
                          ("gzipped.nii", gzip.compress(raw))):
        path = tmp_path / name
        path.write_bytes(payload)
        data = nifti_io.read_nifti(path)
        expected = cls.from_bytes(raw)
        assert np.array_equal(data.array, np.asarray(expected.dataobj).T)
        assert np.array_equal(data.affine, expected.affine) and data.extension_json == {"a": 1}
    (tmp_path / "junk.nii.gz").write_bytes(gzip.compress(b"not a nifti header" * 30))
    with pytest.raises(InputError, match="junk.nii.gz"):
        nifti_io.read_nifti(tmp_path / "junk.nii.gz")
