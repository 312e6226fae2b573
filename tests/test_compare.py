"""Agreement: Dice, HD95 in mm respecting spacing, volumes in ml, CASE@vN, --pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctlabel import Case
from ctlabel.case import review as rv
from ctlabel.cli.main import main
from ctlabel.errors import GeometryError
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.mask import save_mask
from ctlabel.measure.compare import compare_arrays, hd95
from ctlabel.volume import Grid


def test_identical_and_disjoint():
    a = np.zeros((10, 20, 20), np.uint8)
    a[2:8, 5:15, 5:15] = 1
    (r,) = compare_arrays(a, a, (1.0, 1.0, 1.0))
    assert r.dice == 1.0 and r.hd95_mm == 0.0 and r.volume_a_ml == pytest.approx(0.6)
    (r,) = compare_arrays(a, np.zeros_like(a), (1.0, 1.0, 1.0))
    assert r.dice == 0.0 and r.hd95_mm is None and r.volume_b_ml == 0.0 and r.volume_diff_ml == pytest.approx(-0.6)


def test_hd95_respects_spacing():
    a = np.zeros((12, 12, 12), bool)
    b = np.zeros_like(a)
    a[5, 5, 5] = True
    b[7, 5, 5] = True
    assert hd95(a, b, (2.5, 1.0, 1.0)) == pytest.approx(5.0)
    b[:] = False
    b[5, 5, 8] = True
    assert hd95(a, b, (2.5, 1.0, 0.7)) == pytest.approx(2.1)


def test_hd95_of_shifted_box():
    a = np.zeros((30, 30, 30), bool)
    a[5:20, 5:20, 5:20] = True
    b = np.roll(a, 3, axis=2)
    # surface voxels shifted by 3 columns of 0.5 mm: at most 1.5 mm
    h = hd95(a, b, (2.0, 1.0, 0.5))
    assert 0 < h <= 1.5 + 1e-9
    (r,) = compare_arrays(a.astype(np.uint8), b.astype(np.uint8), (2.0, 1.0, 0.5))
    assert r.dice == pytest.approx(12 / 15)
    assert r.volume_a_ml == pytest.approx(15 ** 3 * 1.0 / 1000)


@pytest.fixture
def two_version_case(tmp_path):
    vol, mask, table = make_phantom(shape=(16, 40, 40))
    case = Case.create(tmp_path / "c", vol, label_table=table)
    rv.add_version(case, mask, vol.grid, "ann_a", imported_from={"Path": "a"})
    m2 = mask.copy()
    m2[m2 == 5] = 0
    m2[(m2 == 1) & (np.arange(40)[None, :, None] < 15)] = 0  # trim the liver's front
    rv.add_version(case, m2, vol.grid, "ann_b", imported_from={"Path": "b"})
    return case


def test_cli_case_versions_json(two_version_case, capsys):
    c = str(two_version_case.root)
    assert main(["compare", f"{c}@v1", f"{c}@v2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    by = {r["label"]: r for r in d["labels"]}
    assert by[4]["dice"] == 1.0 and by[4]["hd95_mm"] == 0.0 and by[4]["name"] == "spine"
    assert by[5]["dice"] == 0.0 and by[5]["hd95_mm"] is None and by[5]["volume_b_ml"] == 0.0
    assert 0.9 < by[1]["dice"] < 1.0 and by[1]["volume_diff_ml"] < 0
    assert main(["compare", f"{c}@v1", f"{c}@2"]) == 0
    assert "dice" in capsys.readouterr().out


def test_cli_pairs(two_version_case, tmp_path, capsys):
    c = two_version_case.root
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"a,b\n{c}@v1,{c}@v2\n{c}@v2,{c}@v2\n")
    assert main(["compare", "--pairs", str(pairs), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["pairs"]) == 2 and all(r["dice"] == 1.0 for r in d["pairs"][1]["labels"])
    pairs.write_text(f"{c}@v1,{c}@v9\n")
    assert main(["compare", "--pairs", str(pairs)]) == 1


def test_grid_mismatch_is_refused(two_version_case, tmp_path, capsys):
    v = two_version_case.load_version(1)
    aff = v.affine.copy()
    aff[2, 2] *= 1.1
    p = tmp_path / "other_dseg.nii.gz"
    save_mask(p, v.array, Grid(v.grid.shape, aff))
    from ctlabel.measure.compare import compare_specs

    with pytest.raises(GeometryError):
        compare_specs(f"{two_version_case.root}@v1", str(p))
    assert main(["compare", f"{two_version_case.root}@v1", str(p)]) == 2
    assert "never resamples" in capsys.readouterr().err


def test_surface_distances_are_those_of_the_distance_transform():
    """The k-d tree's distances are the Euclidean distance transform's, voxel for voxel (anisotropic)."""
    from scipy import ndimage

    from ctlabel.measure.compare import _surface, surface_distances

    rng = np.random.default_rng(7)
    a = ndimage.binary_opening(rng.random((14, 30, 26)) > 0.45, iterations=1)
    b = ndimage.binary_dilation(a, iterations=2) & (rng.random(a.shape) > 0.1)
    spacing = (2.5, 0.7, 0.9)
    da, db = surface_distances(a, b, spacing)
    sa, sb = _surface(a), _surface(b)
    np.testing.assert_allclose(da, ndimage.distance_transform_edt(~sb, sampling=spacing)[sa], atol=1e-9)
    np.testing.assert_allclose(db, ndimage.distance_transform_edt(~sa, sampling=spacing)[sb], atol=1e-9)
    assert da.size > 50 and db.size > 50 and da.max() > 0
