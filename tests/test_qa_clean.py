"""ctlabel's own tools leave masks that pass its own QA; and QA still finds the defects that matter.

On the demo CT (``sample_data/totalseg_body_ct``, 20 slices of 512 x 512, 0.98 x 0.98 x 2 mm),
converted to a case through the CLI: ``prelabel --structures bone`` then ``qa --json`` (579
findings before the pre-labels were cleaned: 559 holes, 20 small islands); then defects planted
into the clean mask are each reported by their check. And HU-limited brush strokes over bone,
as the viewer applies them, leave no holes once :func:`ctlabel.close_stroke_holes` closes them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from ctlabel import Case, close_stroke_holes, hu_range_mask
from ctlabel.cli.main import main
from ctlabel.io.labels import default_label_table
from ctlabel.qa import QAOptions, check_mask

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "totalseg_body_ct" / "dicom"
TABLE = default_label_table()
BONE = next(lab.index for lab in TABLE if lab.name == "bone")
LIVER = next(lab.index for lab in TABLE if lab.name == "liver")


def _qa(root: Path, capsys, *extra: str) -> list[dict]:
    capsys.readouterr()
    main(["qa", str(root), "--json", *extra])
    out = json.loads(capsys.readouterr().out)
    reports = out if isinstance(out, list) else out.get("reports", [out])
    return [f for r in reports for f in r["findings"]]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """The demo CT converted through the CLI, with the built-in label table (once per module)."""
    out = tmp_path_factory.mktemp("qa_clean") / "cases"
    assert main(["convert", str(SAMPLE), "-o", str(out), "-j", "1", "-q"]) == 0
    (root,) = [p for p in out.iterdir() if p.is_dir()]
    return root


@pytest.fixture
def sample_case(converted, tmp_path) -> Case:
    """A fresh copy of the converted case."""
    return Case.open(shutil.copytree(converted, tmp_path / converted.name))


@pytest.fixture
def bone_case(sample_case, capsys) -> Case:
    """The demo case pre-labelled with bone through the CLI."""
    assert main(["prelabel", str(sample_case.root), "--structures", "bone", "--user", "ann"]) == 0
    capsys.readouterr()
    return sample_case


def test_prelabelled_bone_passes_qa_and_planted_defects_are_each_found(bone_case, capsys):
    draft = bone_case.load_draft()
    bone = draft.array == BONE
    assert np.count_nonzero(bone) > 50_000  # spine, ribs, pelvis: every bone, in the bone label
    assert set(np.unique(draft.array).tolist()) == {0, BONE}  # nothing went into vertebrae
    findings = _qa(bone_case.root, capsys)
    assert len(findings) <= 10, [f["message"] for f in findings]
    # clean, not hidden: the strictest hole threshold (every hole) is the default, and no hole is left
    assert not [f for f in findings if f["check"] == "hole"]

    vol = bone_case.load_image()
    hu, spacing = vol.array, vol.spacing
    voxel_mm3, pixel_mm2 = float(np.prod(spacing)), float(spacing[1] * spacing[2])
    arr = draft.array.copy()
    # 1. a detached island of about 30 mm3 (below the 50 mm3 limit) in soft tissue, far from bone
    far = ndi.distance_transform_edt(~bone) > 10
    inside = far & (hu > -100) & (hu < 100)
    n_side = 4
    z, r, c = (int(v) for v in np.argwhere(inside[:, ::8, ::8])[len(np.argwhere(inside[:, ::8, ::8])) // 2])
    r, c = r * 8, c * 8
    arr[z, r:r + n_side, c:c + n_side] = BONE
    island_mm3 = n_side * n_side * voxel_mm3
    assert 25 <= island_mm3 <= 35
    # 2. an enclosed hole of about 200 mm3 (over two slices) where the bone is solid
    depth = np.stack([ndi.distance_transform_edt(s) for s in bone])
    hz = int(np.argmax(depth.max(axis=(1, 2))[:-1] + depth.max(axis=(1, 2))[1:]))  # two adjacent deep slices
    hole_rc = np.unravel_index(np.argmax(np.minimum(depth[hz], depth[hz + 1])), depth.shape[1:])
    h = 7  # 7 x 7 pixels on each of 2 slices
    hr, hc = int(hole_rc[0]) - h // 2, int(hole_rc[1]) - h // 2
    assert np.minimum(depth[hz], depth[hz + 1])[hole_rc] > h  # solid bone around it
    arr[hz:hz + 2, hr:hr + h, hc:hc + h] = 0
    assert 180 <= 2 * h * h * voxel_mm3 <= 220 and h * h * pixel_mm2 > 40
    # 3. a soft-tissue label (liver) on air outside the patient
    air = np.argwhere(ndi.binary_erosion(hu[5] < -900, iterations=12))[0]
    arr[4:7, air[0]:air[0] + 10, air[1]:air[1] + 10] = LIVER
    assert (hu[4:7, air[0]:air[0] + 10, air[1]:air[1] + 10] < -900).all()
    bone_case.save_draft(arr, bone_case.image_grid())

    planted = _qa(bone_case.root, capsys)
    islands = [f for f in planted if f["check"] == "small_island" and f["label"] == BONE]
    assert any(f["voxel"][0] == z and r <= f["voxel"][1] < r + n_side and c <= f["voxel"][2] < c + n_side
               for f in islands), [f["message"] for f in islands]
    holes = [f for f in planted if f["check"] == "hole" and f["label"] == BONE]
    for k in (hz, hz + 1):
        assert any(f["slice"] == k and hr <= f["voxel"][1] < hr + h and hc <= f["voxel"][2] < hc + h
                   and f"{h * h} voxels" in f["message"] for f in holes), [f["message"] for f in holes]
    on_air = [f for f in planted if f["check"] == "soft_tissue_on_air"]
    assert [f["label"] for f in on_air] == [LIVER] and on_air[0]["level"] == "error"
    # the physical hole limit: a threshold above the planted hole's area hides it, one below keeps it
    area = h * h * pixel_mm2
    assert not [f for f in _qa(bone_case.root, capsys, "--min-hole-mm2", f"{area + 1:.1f}")
                if f["check"] == "hole"]
    assert len([f for f in _qa(bone_case.root, capsys, "--min-hole-mm2", f"{area - 1:.1f}")
                if f["check"] == "hole"]) == 2


def _brush(hu: np.ndarray, labels: np.ndarray, z: int, r: int, c: int, radius: int, label: int,
           close: bool) -> None:
    """One HU-limited (200 ... 3071 HU) brush dab as the viewer applies it: a disk in a 1-slice box."""
    key = (slice(z, z + 1), slice(max(0, r - radius), r + radius + 1), slice(max(0, c - radius), c + radius + 1))
    rr, cc = np.ogrid[key[1], key[2]]
    disk = (((rr - r) ** 2 + (cc - c) ** 2) <= radius ** 2)[None]
    kept = hu_range_mask(disk, hu[key], 200, 3071)
    if close:
        kept = close_stroke_holes(disk, kept, labels[key], label)
    labels[key][kept] = label


def test_hu_limited_brush_over_bone_leaves_no_holes(sample_case):
    case = sample_case
    vol = case.load_image()
    hu = vol.array
    # dabs of 15 mm radius over the bones of every slice: centred on each bone piece (cortex > 400 HU)
    dabs = []
    for z in range(hu.shape[0]):
        lab, n = ndi.label(ndi.binary_closing(hu[z] > 400, iterations=2))
        sizes = np.bincount(lab.ravel())
        for i, (rs, cs) in enumerate(ndi.find_objects(lab), 1):
            if sizes[i] >= 30:
                dabs.append((z, (rs.start + rs.stop) // 2, (cs.start + cs.stop) // 2))
    assert len(dabs) > 40
    results = {}
    for close in (False, True):
        labels = np.zeros(hu.shape, np.uint8)
        labels[hu.shape[0] // 2, 250:256, 250:256] = LIVER  # another label, never painted over
        for z, r, c in dabs:
            _brush(hu, labels, z, r, c, 15, BONE, close)
        case.save_draft(labels, case.image_grid())
        holes = check_mask(case.load_draft(), vol, TABLE, QAOptions(checks=("hole",)))
        results[close] = (labels, [f for f in holes if f.label == BONE])
    (plain, before), (closed, after) = results[False], results[True]
    assert len(before) > 50  # the HU limit alone leaves holes: marrow, noise
    assert 10 * len(after) < len(before), [f.message for f in after[:5]]
    for f in after:  # what is left was enclosed by several dabs together, never inside one dab's footprint
        z, r, c = f.voxel
        enclosed = ndi.label(closed[z] != BONE)[0]
        hole = enclosed == enclosed[r, c]
        rr, cc = np.ogrid[:hu.shape[1], :hu.shape[2]]
        assert not any(((rr - dr) ** 2 + (cc - dc) ** 2 <= 15 ** 2)[hole].all() for dz, dr, dc in dabs if dz == z)
    # what closing added is background inside the dabs, enclosed by bone; the other label is kept
    added = (closed == BONE) & (plain != BONE)
    assert added.any() and not (plain[added] != 0).any()
    swept = np.zeros(hu.shape, bool)
    for z, r, c in dabs:
        rr, cc = np.ogrid[:hu.shape[1], :hu.shape[2]]
        swept[z] |= (rr - r) ** 2 + (cc - c) ** 2 <= 15 ** 2
    assert not (added & ~swept).any()
    assert np.array_equal(closed == LIVER, plain == LIVER)
    assert np.count_nonzero(added) < 0.5 * np.count_nonzero(plain == BONE)  # holes, not the surroundings
    print(f"HU-limited dabs: {len(before)} hole warnings without closing, {len(after)} with")


def test_pieces_are_judged_whole_across_slab_boundaries():
    """drop_specks works slab by slab (16 slices): a piece crossing a boundary is judged as one."""
    from ctlabel.prelabel.clean import drop_specks, fill_enclosed

    labels = np.zeros((40, 30, 30), np.uint8)
    labels[2:30, 2:12, 2:12] = 5  # the main piece
    labels[14:18, 20, 20] = 5  # 4 voxels across the boundary at 16: a speck
    labels[10:22, 20:22, 25] = 5  # 24 voxels, small in each slab, large as one (diagonal links too)
    labels[22, 22, 26] = 5
    labels[5, 25:28, 2:5] = 7  # another label, never touched
    before = labels.copy()
    assert drop_specks(labels, 5, 1.0, 20.0) == 4
    assert not labels[14:18, 20, 20].any() and (labels[10:22, 20:22, 25] == 5).all() and labels[22, 22, 26] == 5
    assert np.array_equal(labels == 7, before == 7)
    # QA agrees: one small island before, none after
    islands = check_mask(_mask(before), None, None, QAOptions(min_island_mm3=20.0, checks=("small_island",)))
    assert len(islands) == 1 and islands[0].voxel[0] in range(14, 18)
    assert not check_mask(_mask(labels), None, None, QAOptions(min_island_mm3=20.0, checks=("small_island",)))
    # holes: background enclosed within a slice is filled, another label inside is kept
    labels[20, 4:8, 4:8] = 0
    labels[20, 5, 5] = 7
    assert fill_enclosed(labels, 5) == 15 and labels[20, 5, 5] == 7 and (labels[20, 4:8, 4:8] != 0).all()


def _mask(arr: np.ndarray):
    from ctlabel.io.mask import Mask

    return Mask(arr, np.eye(4))
