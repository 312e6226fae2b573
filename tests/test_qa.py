"""QA checks: each fires on a case built to trigger it and is silent on a clean one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_paths import CT3, CT3_TABLE

from ctlabel import Case
from ctlabel.cli.main import main
from ctlabel.intake.importers import import_mask
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.mask import load_mask, save_mask
from ctlabel.measure.qa_targets import qa_target
from ctlabel.qa import QAOptions, check_mask
from ctlabel.volume import Grid


@pytest.fixture
def spine_case(tmp_path, ct3_volume):
    """The real 3-slice CT with the dcmqi spine label map (clean) imported as v001."""
    case = Case.create(tmp_path / "ct3", ct3_volume, label_table=CT3_TABLE)
    import_mask(case, CT3 / "ground_truth" / "spine_seg.nrrd", "gt")
    return case


def _checks(findings):
    return sorted({f.check for f in findings})


def _draft(case, arr, **prov):
    case.save_draft(arr, case.image_grid(), **prov)
    return qa_target(str(case.root))


def test_clean_real_case_is_silent(spine_case):
    rep = qa_target(str(spine_case.root))
    assert rep.ok and rep.findings == []
    heart = qa_target(str(spine_case.root))  # and the heart label map too
    assert heart.findings == []


def test_clean_phantom_with_interpolation_is_silent(tmp_path):
    vol, mask, table = make_phantom(shape=(16, 40, 40))
    case = Case.create(tmp_path / "ph", vol, label_table=table)
    ks = sorted({int(k) for k in np.flatnonzero((mask == 1).any(axis=(1, 2)))})
    painted = ks[::3] + ([ks[-1]] if ks[-1] not in ks[::3] else [])
    interp = [k for k in ks if k not in painted]
    rep = _draft(case, mask, painted={1: painted}, interpolated={1: interp})
    assert rep.findings == [], [f.message for f in rep.findings]


def test_geometry_mismatch(spine_case):
    v = spine_case.load_version(1)
    aff = v.affine.copy()
    aff[0, 3] += 0.5
    p = spine_case.masks_dir / "foreign_dseg.nii.gz"
    save_mask(p, v.array, Grid(v.grid.shape, aff))
    rep = qa_target(str(p))
    assert not rep.ok and _checks(rep.findings) == ["geometry"]
    assert "never resamples" in rep.findings[0].message
    q = spine_case.masks_dir / "short_dseg.nii.gz"
    save_mask(q, v.array[:2], Grid((2, 512, 512), v.affine))
    assert _checks(qa_target(str(q)).findings) == ["geometry"]


def test_unknown_label(spine_case):
    arr = spine_case.load_version(1).array.copy()
    arr[1, 250:260, 250:260] = 9
    rep = _draft(spine_case, arr)
    f = [x for x in rep.findings if x.check == "unknown_label"]
    assert not rep.ok and len(f) == 1 and f[0].label == 9 and f[0].slice == 1
    assert arr[f[0].voxel] == 9


def test_empty_label(spine_case):
    arr = spine_case.load_version(1).array
    rep = _draft(spine_case, arr, painted={2: [0, 1, 2], 3: [1]})
    f = [x for x in rep.findings if x.check == "empty_label"]
    assert [x.label for x in f] == [3] and f[0].level == "warning"  # erased: no slices recorded
    assert rep.ok  # a warning only


def test_soft_tissue_on_air(spine_case, ct3_volume):
    arr = spine_case.load_version(1).array.copy()
    assert (ct3_volume.array[:, 5:40, 5:40] < -500).all()
    arr[:, 5:40, 5:40] = 3  # "heart" painted outside the body
    rep = _draft(spine_case, arr)
    f = [x for x in rep.findings if x.check == "soft_tissue_on_air"]
    assert len(f) == 1 and f[0].label == 3 and f[0].level == "error" and not rep.ok
    assert arr[f[0].voxel] == 3 and ct3_volume.array[f[0].voxel] < -500
    # bone on air is not this check's business
    arr2 = spine_case.load_version(1).array.copy()
    arr2[:, 5:40, 5:40] = 2
    assert "soft_tissue_on_air" not in _checks(_draft(spine_case, arr2).findings)


def test_fluid_on_air_is_flagged_like_soft_tissue(tmp_path, ct3_volume):
    """A fluid label (bile, urine, CSF: 0-20 HU) painted outside the body is as wrong as soft tissue there."""
    from ctlabel.io.labels import Label, LabelTable

    table = LabelTable((*CT3_TABLE.labels, Label(4, "gallbladder", "GB", "#5aa050", "fluid")))
    case = Case.create(tmp_path / "fluid", ct3_volume, label_table=table)
    arr = np.zeros(ct3_volume.shape, np.uint8)
    arr[:, 5:40, 5:40] = 4  # outside the body: air
    rep = _draft(case, arr)
    f = [x for x in rep.findings if x.check == "soft_tissue_on_air"]
    assert len(f) == 1 and f[0].label == 4 and f[0].level == "error" and not rep.ok
    assert "fluid" in f[0].message and "gallbladder" in f[0].message
    assert arr[f[0].voxel] == 4 and ct3_volume.array[f[0].voxel] < -500
    # the same label inside the body is fine
    inside = np.zeros(ct3_volume.shape, np.uint8)
    inside[:, 200:260, 200:260] = 4
    assert np.median(ct3_volume.array[inside > 0]) > -100
    assert "soft_tissue_on_air" not in _checks(_draft(case, inside).findings)


def test_small_island(spine_case):
    arr = spine_case.load_version(1).array.copy()
    arr[2, 100:102, 100:103] = 2  # 6 voxels * 0.66 mm3, far from the spine
    rep = _draft(spine_case, arr)
    f = [x for x in rep.findings if x.check == "small_island"]
    assert len(f) == 1 and f[0].slice == 2 and 100 <= f[0].voxel[1] < 102
    # a larger threshold is needed to flag a bigger island; a tiny one stops flagging this one
    assert not [x for x in check_mask(load_mask(spine_case.draft_path), None, CT3_TABLE,
                                      QAOptions(min_island_mm3=1.0)) if x.check == "small_island"]


def test_hole(spine_case):
    arr = spine_case.load_version(1).array.copy()
    from scipy import ndimage

    core = ndimage.binary_erosion(arr[1] == 2, iterations=4)
    r, c = np.argwhere(core)[len(np.argwhere(core)) // 2]
    arr[1, r - 1:r + 2, c - 1:c + 2] = 0
    rep = _draft(spine_case, arr)
    f = [x for x in rep.findings if x.check == "hole"]
    assert len(f) == 1 and f[0].slice == 1 and arr[f[0].voxel] == 0
    # another label inside is not a hole
    arr[1, r - 1:r + 2, c - 1:c + 2] = 3
    assert "hole" not in _checks(_draft(spine_case, arr).findings)


@pytest.fixture
def phantom_case(tmp_path):
    vol, mask, table = make_phantom(shape=(24, 40, 40), spacing=(2.5, 2.0, 2.0))
    case = Case.create(tmp_path / "ph", vol, label_table=table)
    spine = np.where(mask == 4, 4, 0).astype(np.uint8)  # the spine runs through every slice
    return case, spine


def test_interpolated_outside_painted(phantom_case):
    case, spine = phantom_case
    rep = _draft(case, spine, painted={4: [5, 6, 10]}, interpolated={4: [2, 3, 7, 8, 9]})
    f = [x for x in rep.findings if x.check == "interpolated_outside_painted"]
    assert len(f) == 1 and f[0].slice == 2 and "2-3" in f[0].message and not rep.ok
    assert spine[f[0].voxel] == 4


def test_far_from_painted(phantom_case):
    case, spine = phantom_case
    rep = _draft(case, spine, painted={4: [0, 23]}, interpolated={4: list(range(1, 23))})
    f = [x for x in rep.findings if x.check == "far_from_painted"]
    assert len(f) == 1 and f[0].slice in (11, 12) and "6-17" in f[0].message
    assert rep.ok  # warning
    assert not [x for x in check_mask(load_mask(case.draft_path), None, None, QAOptions(max_gap=12))
                if x.check == "far_from_painted"]


def test_cli_many_cases_table_and_json(spine_case, tmp_path, ct3_volume, capsys):
    bad = Case.create(tmp_path / "bad", ct3_volume, label_table=CT3_TABLE)
    arr = spine_case.load_version(1).array.copy()
    arr[0, 250:255, 250:255] = 7
    bad.save_draft(arr, bad.image_grid())
    assert main(["qa", str(spine_case.root)]) == 0
    capsys.readouterr()
    assert main(["qa", str(spine_case.root), str(bad.root)]) == 1
    out = capsys.readouterr().out
    assert "unknown_label" in out and "FAILED" in out
    assert main(["qa", "--json", str(tmp_path)]) == 1  # a folder of cases
    data = json.loads(capsys.readouterr().out)
    assert len(data["reports"]) == 2 and not data["ok"]
    f = [f for r in data["reports"] for f in r["findings"]][0]
    assert f["check"] == "unknown_label" and f["slice"] == 0 and len(f["voxel"]) == 3
    assert main(["qa", "--skip", "unknown_label", str(bad.root)]) == 0
    assert main(["qa", str(tmp_path / "nope")]) == 2


def test_one_pass_helpers_give_what_the_per_label_scipy_way_gives():
    """``small_island`` and ``hole`` find every island's voxel and every hole in one pass; same answers."""
    from scipy import ndimage

    from ctlabel.qa.checks import _enclosed, voxel_near_centre, voxels_near_centres

    rng = np.random.default_rng(7)
    for t in range(200):
        s2 = rng.random(tuple(rng.integers(3, 40, 2))) < rng.uniform(0.2, 0.8)
        s2 = ndimage.binary_closing(s2) if t % 2 else s2  # closed shapes hold real holes
        assert np.array_equal(_enclosed(~s2), ndimage.binary_fill_holes(s2) & ~s2)
        cc, n = ndimage.label(rng.random(tuple(rng.integers(2, 16, 3))) < 0.3)
        at = voxels_near_centres(cc)
        assert sorted(at) == list(range(1, n + 1))
        assert all(at[i] == voxel_near_centre(cc == i) for i in at)
