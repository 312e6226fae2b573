"""Import DICOM SEG (highdicom), NRRD and NIfTI masks onto a case grid as new versions."""

from __future__ import annotations

import json
import shutil

import highdicom as hd
import nibabel as nib
import nrrd
import numpy as np
import pytest
from data_paths import CT2, CT3, CT3_TABLE

from ctlabel import Case, load_series
from ctlabel.case import record as case_record
from ctlabel.case import review as rv
from ctlabel.case import verify as case_verify
from ctlabel.cli.main import main
from ctlabel.errors import GeometryError, InputError
from ctlabel.intake.importers import import_mask

GT = CT3 / "ground_truth"


@pytest.fixture
def ct3(tmp_path, ct3_volume):
    return Case.create(tmp_path / "ct3", ct3_volume, label_table=CT3_TABLE)


@pytest.fixture
def ct2(tmp_path):
    return Case.create(tmp_path / "ct2", load_series(CT2 / "dicom"))


def _nrrd_mem(path):
    data, _ = nrrd.read(str(path), index_order="F")
    return np.ascontiguousarray(data.T)


def test_dicom_seg_liver_matches_nrrd_ground_truth(ct3):
    n = import_mask(ct3, GT / "liver.dcm", "importer")
    m = ct3.load_version(n)
    assert np.array_equal(m.array == 1, _nrrd_mem(GT / "liver_seg.nrrd") == 1)
    src = m.provenance.imported_from
    assert src["Format"] == "dicom-seg" and src["FileName"] == "liver.dcm" and src["FramesMatchedByUID"] == 3
    assert len(src["FileSHA256"]) == 64 and src["Segments"][0]["Name"] == "Liver" and src["Segments"][0]["Label"] == 1
    ev = case_record.load_record(ct3)["Events"][-1]
    assert (ev["Action"], ev["Version"], ev["Who"]) == ("imported", "v001", "importer")
    assert ev["Source"].endswith("liver.dcm") and ev["VoxelSHA256"] == m.voxel_hash
    assert case_verify.verify_case(ct3).ok


def test_dicom_seg_frame_mapping_agrees_with_highdicom(ct3):
    """Frames land on the case slices highdicom maps them to via the source SOPInstanceUIDs."""
    n = import_mask(ct3, GT / "liver.dcm", "importer")
    uids = [s["SOPInstanceUID"] for s in ct3.image_record()["Source"]["Slices"]]
    seg = hd.seg.segread(str(GT / "liver.dcm"))
    ref = seg.get_pixels_by_source_instance(uids, combine_segments=True, ignore_spatial_locations=True)
    assert np.array_equal(ct3.load_version(n).array, ref.astype(np.uint8))


def test_dicom_seg_irregular_series_and_fractional(ct2):
    """CT2 has an outlying slice; frames are placed by UID and checked against Source.Slices positions."""
    slices = ct2.image_record()["Source"]["Slices"]
    real = [k for k, s in enumerate(slices) if s is not None]  # the others were padded (missing slices)
    uids = [slices[k]["SOPInstanceUID"] for k in real]
    for name in ("seg_image_ct_binary.dcm", "seg_image_ct_binary_fractional.dcm"):
        n = import_mask(ct2, CT2 / "highdicom_seg" / name, "imp")
        seg = hd.seg.segread(str(CT2 / "highdicom_seg" / name))
        ref = seg.get_pixels_by_source_instance(uids, combine_segments=True, ignore_spatial_locations=True)
        got = ct2.load_version(n).array
        assert np.array_equal(got[real], (ref > 0).astype(np.uint8)), name
        assert not np.delete(got, real, axis=0).any()
    n = import_mask(ct2, CT2 / "highdicom_seg" / "seg_image_ct_true_fractional.dcm", "imp")
    assert ct2.load_version(n).provenance.imported_from["FractionalThreshold"] == 0.5


def test_dicom_seg_by_position_when_uids_differ(tmp_path, ct3_volume):
    """A case with pseudonymized UIDs still gets the SEG frames, matched by plane position."""
    case = Case.create(tmp_path / "pseudo", ct3_volume, label_table=CT3_TABLE, pseudonymize_salt="s")
    n = import_mask(case, GT / "liver.dcm", "imp")
    info = case.load_version(n).provenance.imported_from
    assert info["FramesMatchedByPosition"] == 3 and info["FramesMatchedByUID"] == 0
    assert np.array_equal(case.load_version(n).array == 1, _nrrd_mem(GT / "liver_seg.nrrd") == 1)


def test_overlapping_segments_refused_naming_them(ct3, ct2):
    with pytest.raises(InputError) as exc:
        import_mask(ct3, GT / "partial_overlaps.dcm", "imp")
    msg = str(exc.value)
    assert "partial_overlaps.dcm" in msg and "overlapping" in msg
    assert "segment 1 'GREEN' and segment 2 'ORANGE'" in msg
    assert ct3.versions() == []
    with pytest.raises(InputError, match="'first segment' and segment 2 'second segment'"):
        import_mask(ct2, CT2 / "highdicom_seg" / "seg_image_ct_binary_overlap.dcm", "imp")
    # a non-overlapping subset can be imported, one version per subset
    n = import_mask(ct2, CT2 / "highdicom_seg" / "seg_image_ct_binary_overlap.dcm", "imp", segments=[2])
    assert n == 1 and ct2.load_version(1).array.max() == 2


def test_seg_of_another_series_is_refused(ct2):
    with pytest.raises(GeometryError, match="FrameOfReferenceUID"):
        import_mask(ct2, CT2 / "highdicom_seg" / "seg_image_ct_binary_single_frame.dcm", "imp")


def test_seg_onto_wrong_grid_is_refused(tmp_path, ct3_volume):
    # pseudonymized UIDs: the FrameOfReference check cannot apply, the grid check still refuses
    case = Case.create(tmp_path / "pseudo", ct3_volume, label_table=CT3_TABLE, pseudonymize_salt="s")
    with pytest.raises(GeometryError, match="16x16 but the case slices are 512x512; ctlabel never resamples"):
        import_mask(case, CT2 / "highdicom_seg" / "seg_image_ct_binary.dcm", "imp")
    assert case.versions() == []


def test_nrrd_label_maps(ct3):
    for name, values in (("liver_spine_seg.nrrd", {1, 2}), ("partial_overlaps-1.nrrd", {1, 4, 5})):
        n = import_mask(ct3, GT / name, "imp")
        m = ct3.load_version(n)
        assert set(np.unique(m.array)) - {0} == values
        assert np.array_equal(m.array, _nrrd_mem(GT / name))
        assert m.provenance.imported_from["Format"] == "nrrd"


def test_nrrd_wrong_geometry_is_refused(ct3, tmp_path):
    data, header = nrrd.read(str(GT / "spine_seg.nrrd"), index_order="F")
    header["space origin"] = np.asarray(header["space origin"]) + [0, 0, 0.5]
    p = tmp_path / "shifted.nrrd"
    nrrd.write(str(p), data, header, index_order="F")
    with pytest.raises(GeometryError, match="never resamples"):
        import_mask(ct3, p, "imp")
    header["space origin"] = np.asarray(header["space origin"]) - [0, 0, 0.5]
    nrrd.write(str(p), data[:, :, :2], header, index_order="F")
    with pytest.raises(GeometryError, match="shape"):
        import_mask(ct3, p, "imp")
    assert ct3.versions() == []


def test_nifti_mask_from_another_tool(ct3, tmp_path):
    arr = _nrrd_mem(GT / "heart_seg.nrrd").astype(np.int16) * 3
    affine = nib.load(ct3.image_path).affine
    p = tmp_path / "heart.nii.gz"
    nib.save(nib.Nifti1Image(arr.T, affine), p)
    n = import_mask(ct3, p, "imp")
    assert np.array_equal(ct3.load_version(n).array, arr)
    bad = affine.copy()
    bad[:3, :3] *= 1.01
    nib.save(nib.Nifti1Image(arr.T, bad), p)
    with pytest.raises(GeometryError):
        import_mask(ct3, p, "imp")


def test_cli_import_then_compare_two_tools(ct3, capsys):
    assert main(["import", str(GT / "liver.dcm"), "--case", str(ct3.root), "--user", "seg_tool"]) == 0
    assert main(["import", str(GT / "liver_seg.nrrd"), "--case", str(ct3.root), "--user", "slicer"]) == 0
    assert "v002" in capsys.readouterr().out
    assert main(["compare", f"{ct3.root}@v1", f"{ct3.root}@v2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["labels"][0]["dice"] == 1.0
    assert main(["import", str(GT / "partial_overlaps.dcm"), "--case", str(ct3.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "GREEN" in err
    # the imported version can be submitted and reviewed
    assert main(["submit", str(ct3.root), "--user", "slicer"]) == 0
    assert main(["approve", str(ct3.root), "--user", "rev"]) == 0
    assert main(["verify", str(ct3.root)]) == 0


def test_import_refused_while_awaiting_review(ct3):
    import_mask(ct3, GT / "liver.dcm", "a")
    rv.submit(ct3, "a")
    from ctlabel.errors import StateError

    with pytest.raises(StateError, match="awaits review"):
        import_mask(ct3, GT / "liver_seg.nrrd", "b")


def test_relabel_maps_label_map_values_onto_the_case_table(tmp_path, ct3_volume, capsys):
    from ctlabel.io.labels import Label, LabelTable

    table = LabelTable((Label(1, "spleen", "SPL", "#9d5a2c", "soft_tissue"),
                        Label(4, "liver", "LIV", "#b4643c", "soft_tissue")))
    case = Case.create(tmp_path / "default", ct3_volume, label_table=table)  # liver is 4 here
    assert main(["import", str(GT / "liver.dcm"), "--case", str(case.root), "--user", "a"]) == 0  # by name: 4
    assert main(["import", str(GT / "liver_seg.nrrd"), "--case", str(case.root), "--user", "b",
                 "--relabel", "1=4"]) == 0
    assert set(np.unique(case.load_version(2).array)) == {0, 4}
    assert case.load_version(2).provenance.imported_from["Segments"][0]["Label"] == 4
    capsys.readouterr()
    assert main(["compare", f"{case.root}@v1", f"{case.root}@v2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"][0]["dice"] == 1.0
    assert main(["import", str(GT / "liver_seg.nrrd"), "--case", str(case.root), "--relabel", "3=4"]) == 2
    assert main(["import", str(GT / "liver_seg.nrrd"), "--case", str(case.root), "--relabel", "x"]) == 2


def test_the_folder_an_imported_file_came_from_is_not_recorded(ct3, tmp_path):
    """Hospital folders are often named after the patient: only the file's name and hash are kept."""
    folder = tmp_path / "DOE_JOHN_MRN12345"
    folder.mkdir()
    shutil.copy(GT / "liver.dcm", folder / "liver.dcm")
    import_mask(ct3, folder / "liver.dcm", "importer")
    written = [p for p in ct3.root.rglob("*") if p.is_file() and p.suffix == ".json"]
    assert written and not any("DOE_JOHN" in p.read_text() for p in written)
