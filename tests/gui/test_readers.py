"""Reader, writer, sample data and launch contributions in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest

from ctlabel.case.folder import Case
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.image import save_image
from ctlabel.io.labels import Label, LabelTable
from ctlabel.io.mask import load_mask, save_mask

from .conftest import CT_DATA


def test_reader_single_dicom_file(make_napari_viewer):
    viewer = make_napari_viewer()
    path = CT_DATA / "pydicom_ct" / "ct_small" / "CT_small.dcm"
    viewer.open(str(path), plugin="ctlabel")
    image, labels = viewer.layers
    assert image.data.shape == (1, 128, 128)
    assert labels.data.shape == (1, 128, 128) and labels.metadata["ctlabel"]["grid"]["shape"] == [1, 128, 128]


def test_reader_dicomdir_single_and_multi(make_napari_viewer):
    viewer = make_napari_viewer()
    _, browser = viewer.window.add_plugin_dock_widget("ctlabel", "Series browser")
    root = CT_DATA / "dcmqa_ct_philips_brain" / "dicom" / "S21570"
    viewer.open(str(root / "S2010" / "DIRFILE"), plugin="ctlabel")  # a DICOMDIR listing one series
    assert viewer.layers[0].data.shape == (28, 512, 512)
    viewer.layers.clear()


def test_reader_dicomdir_with_two_series_opens_browser(make_napari_viewer, tmp_path):
    from pydicom import dcmread
    from pydicom.fileset import FileSet

    from ctlabel.intake.synthetic import SeriesSpec, write_dicom_series

    volume, _, _ = make_phantom(shape=(6, 32, 32))
    study = "1.2.826.0.1.3680043.8.498.1"
    files = write_dicom_series(tmp_path / "a", volume.array,
                               SeriesSpec(description="first", series_number=1, study_uid=study))
    files += write_dicom_series(tmp_path / "b", volume.array[:4],
                                SeriesSpec(description="second", series_number=2, study_uid=study))
    fs = FileSet()
    for f in files:
        ds = dcmread(f)
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20250101", "120000", "1", ""
        ds.PatientName = "SYNTHETIC"
        fs.add(ds)
    fs.write(tmp_path / "media")
    viewer = make_napari_viewer()
    _, browser = viewer.window.add_plugin_dock_widget("ctlabel", "Series browser")
    viewer.open(str(tmp_path / "media" / "DICOMDIR"), plugin="ctlabel")
    assert len(viewer.layers) == 0
    assert sorted((s.description, s.n_slices) for s in browser.rows) == [("first", 6), ("second", 4)]
    browser.open_stack(next(s for s in browser.rows if s.description == "second"))
    assert viewer.layers[0].data.shape == (4, 32, 32)


def test_reader_nifti_image_and_mask_with_sidecar(make_napari_viewer, tmp_path):
    volume, truth, _ = make_phantom(shape=(20, 48, 48))
    save_image(tmp_path / "ct.nii.gz", volume)
    table = LabelTable((Label(1, "liver", "LIV", "#b4643c", "soft_tissue"),
                        Label(4, "spine", "SPN", "#10f0dc", "bone")))
    mask = np.where(np.isin(truth, (1, 4)), truth, 0).astype(np.uint8)
    save_mask(tmp_path / "seg_dseg.nii.gz", mask, volume.grid, label_table=table, painted={1: [5, 9]},
              interpolated={1: [6, 7, 8]}, annotator="someone")
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "ct.nii.gz"), plugin="ctlabel")
    viewer.open(str(tmp_path / "seg_dseg.nii.gz"), plugin="ctlabel")
    image, labels = viewer.layers
    assert image._type_string == "image" and labels._type_string == "labels"
    np.testing.assert_allclose(image.scale, volume.spacing)
    np.testing.assert_array_equal(labels.data, mask)
    meta = labels.metadata["ctlabel"]
    assert meta["edits"].painted == {1: (5, 9)} and meta["edits"].interpolated == {1: (6, 7, 8)}
    assert "spine" in meta["label_table"]
    rgba = labels.colormap.map(np.array([4]))[0]
    assert tuple(np.round(rgba[:3] * 255)) == (0x10, 0xF0, 0xDC)


def test_writer_save_selected_layers(make_napari_viewer, tmp_path):
    """napari's "Save Selected Layers" (Ctrl+S) goes through the plugin writer; grids are checked."""
    volume, _, table = make_phantom(shape=(16, 40, 40))
    case = Case.create(tmp_path / "case", volume, label_table=table)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(case.root), plugin="ctlabel")
    layer = viewer.layers[-1]
    layer.paint((3, 20, 20), 2)
    viewer.layers.selection = {layer}
    written = viewer.layers.save(str(case.draft_path), selected=True, plugin="ctlabel")
    assert written == [str(case.draft_path)]
    m = case.load_draft()
    assert m.painted == {2: [3]} and m.provenance.annotator == "test-annotator"
    out = tmp_path / "elsewhere_dseg.nii.gz"
    viewer.layers.save(str(out), selected=True, plugin="ctlabel")
    np.testing.assert_array_equal(load_mask(out, volume.grid).array, np.asarray(layer.data))
    # A labels layer without a ctlabel grid is refused (no file written, an error notification).
    bare = viewer.add_labels(np.zeros((16, 40, 40), np.uint8), name="bare")
    viewer.layers.selection = {bare}
    with pytest.warns(UserWarning):  # napari: "No data written!"; the plugin shows the reason
        viewer.layers.save(str(tmp_path / "bare_dseg.nii.gz"), selected=True, plugin="ctlabel")
    assert not (tmp_path / "bare_dseg.nii.gz").exists()
    widget.close_sessions()


def test_writer_refuses_other_grid(tmp_path):
    from ctlabel.errors import GeometryError
    from ctlabel_napari._layers import labels_layer_data
    from ctlabel_napari._writer import save_labels_layer

    volume, _, _ = make_phantom(shape=(8, 20, 20))
    case = Case.create(tmp_path / "case", volume)
    _, kwargs, _ = labels_layer_data(np.zeros((8, 20, 20), np.uint8), volume.grid, "x")
    other = make_phantom(shape=(8, 20, 20), spacing=(3.0, 2.0, 2.0))[0]
    kwargs["metadata"]["ctlabel"]["grid"]["affine"] = other.affine.tolist()
    with pytest.raises(GeometryError):
        save_labels_layer(case.draft_path, np.zeros((8, 20, 20), np.uint8), kwargs)
    with pytest.raises(GeometryError):
        save_labels_layer(tmp_path / "a_dseg.nii.gz", np.zeros((8, 20, 21), np.uint8), kwargs)


def test_sample_data(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("ctlabel", "phantom")
    names = [ly.name for ly in viewer.layers]
    assert names == ["phantom", "phantom ground truth", "phantom labels"]
    assert viewer.layers["phantom ground truth"].data.max() == 5
    viewer.layers.clear()
    viewer.open_sample("ctlabel", "sample_ct")
    from ctlabel import load_series
    from ctlabel_napari._sample_data import sample_ct_path

    assert viewer.layers[0].data.shape == load_series(sample_ct_path()).shape


def test_launch_opens_sample_ct_with_widgets(make_napari_viewer, monkeypatch):
    import napari

    from ctlabel_napari.launch import make_viewer

    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)
    viewer, widget = make_viewer(None, annotator="launcher", show=False)
    try:
        from ctlabel import load_series
        from ctlabel_napari._sample_data import sample_ct_path

        assert viewer.layers[0].data.shape == load_series(sample_ct_path()).shape
        assert widget.session is not None and widget.annotator == "launcher"
        docks = set(viewer.window._wrapped_dock_widgets)
        # the series browser is docked only for a DICOM folder given on the command line
        assert any("Labeling" in d for d in docks) and not any("Series browser" in d for d in docks)
    finally:
        widget.close_sessions()


def test_orientation_note():
    from ctlabel_napari._layers import display_transform, orientation_note

    volume, _, _ = make_phantom(shape=(4, 8, 8))
    assert orientation_note(volume.affine) is None  # standard axial: radiological as stored
    assert min(display_transform(volume.affine, volume.shape)["scale"]) > 0
    flipped = volume.affine.copy()
    flipped[:3, 0] *= -1
    assert "columns mirrored" in orientation_note(flipped)
    sag = volume.affine[:, [2, 1, 0, 3]]
    assert "not an axial" in orientation_note(sag)


def test_axial_series_with_rows_to_anterior_is_shown_radiologically(make_napari_viewer, tmp_path):
    """A real file stored with rows running anterior is mirrored on screen, not resampled."""
    from ctlabel.cli.main import main as cli

    src = CT_DATA / "pydicom_ct" / "single_slices_compressed" / "explicit_VR-UN.dcm"
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(src), plugin="ctlabel")
    image = next(layer for layer in viewer.layers if layer.metadata.get("ctlabel", {}).get("role") == "image")
    labels = widget.session.layer
    assert image.scale[1] < 0 and image.scale[2] > 0 and tuple(labels.scale) == tuple(image.scale)
    # the pixel stored first (row 0) is the most anterior, so it is drawn at the bottom
    top, bottom = image.data_to_world((0, 0, 0))[1], image.data_to_world((0, 511, 0))[1]
    assert top > bottom
    # painting through world coordinates lands on the same stored voxel
    labels.paint(labels.world_to_data(image.data_to_world((0, 10, 20))).round().astype(int), 2)
    assert labels.data[0, 10, 20] == 2
    widget.close_sessions()
    assert cli(["scan", str(src)]) == 0
