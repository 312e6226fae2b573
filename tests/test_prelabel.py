"""Classical pre-labels on a real CT: TotalSegmentator's example abdomen CT and its 104 masks."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from data_paths import ANATOMY
from scipy import ndimage as ndi

from ctlabel import Case, load_image
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case import verify as case_verify
from ctlabel.cli.main import main
from ctlabel.errors import InputError
from ctlabel.io.labels import Label, LabelTable, default_label_table
from ctlabel.prelabel.run import (
    air_mask,
    body_mask,
    bone_mask,
    lung_mask,
    prelabel_case,
    resolve_labels,
    split_left_right,
    structures_for,
)

ABDOMEN = ANATOMY / "totalseg_example_ct"
BONES = ("vertebrae_", "rib_", "hip_", "sacrum", "femur_", "humerus_", "scapula_", "clavicula_")
GUT = ("colon", "small_bowel", "stomach", "duodenum")


@pytest.fixture(scope="module")
def ct():
    """The CT in (slice, row, column) and its masks transposed the same way (both RAS on disk)."""
    vol = load_image(ABDOMEN / "ct.nii.gz")
    masks = {p.name[:-7]: np.asarray(nib.load(p).dataobj).T > 0.5 for p in sorted((ABDOMEN / "masks").glob("*.nii.gz"))}
    assert len(masks) == 104 and all(m.shape == vol.array.shape for m in masks.values())
    return vol, masks


@pytest.fixture(scope="module")
def body(ct):
    vol, _ = ct
    return body_mask(vol.array, vol.spacing)


def _union(masks: dict, prefixes) -> np.ndarray:
    return np.any([m for name, m in masks.items() if name.startswith(tuple(prefixes))], axis=0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _table(hu: np.ndarray, anatomy: np.ndarray) -> np.ndarray:
    """The CT table: components above -500 HU that run along the whole scan and touch no anatomy."""
    lab, n = ndi.label(hu > -500)
    touches = np.bincount(lab[anatomy], minlength=n + 1) > 0
    table = np.zeros(n + 1, bool)
    for i, box in enumerate(ndi.find_objects(lab), 1):
        table[i] = not touches[i] and box[0].stop - box[0].start >= 0.9 * hu.shape[0]
    return table[lab]


def test_body_outline_holds_every_organ_and_no_table(ct, body):
    vol, masks = ct
    anatomy = np.any(list(masks.values()), axis=0)
    assert np.count_nonzero(body & anatomy) >= 0.99 * np.count_nonzero(anatomy)
    table = _table(vol.array, anatomy)
    assert table.sum() > 1000  # the scan has a table, and it is not the patient
    assert not (body & table).any()


def test_lungs_match_the_lobes_and_split_left_from_right(ct, body):
    vol, masks = ct
    lobes = _union(masks, ["lung_"])
    on = np.flatnonzero(lobes.any(axis=(1, 2)))
    lungs = lung_mask(vol.array, vol.spacing, body)
    assert _dice(lungs[on], lobes[on]) >= 0.95
    assert not (lungs & _union(masks, GUT)).any()  # bowel and stomach gas are not lung
    sides = split_left_right(lungs)
    # RAS on disk: columns run towards the patient's right, so side 1 (low columns) is the left lung
    assert vol.affine[0, 0] > 0
    left, right = _union(masks, ["lung_upper_lobe_left", "lung_lower_lobe_left"]), lobes & ~_union(
        masks, ["lung_upper_lobe_left", "lung_lower_lobe_left"])
    assert _dice(sides == 1, left) >= 0.9 and _dice(sides == 2, right) >= 0.9


def test_touching_lungs_are_cut_at_the_midline():
    lungs = np.zeros((4, 40, 60), bool)
    lungs[:, 10:30, 10:50] = True  # one component across the middle
    sides = split_left_right(lungs, midline=30)
    assert (sides[:, 10:30, 10:30] == 1).all() and (sides[:, 10:30, 30:50] == 2).all()


def test_bone_matches_the_skeleton_masks(ct, body):
    vol, masks = ct
    bone = bone_mask(vol.array, vol.spacing, body)
    assert _dice(bone, _union(masks, BONES)) >= 0.85


def test_air_is_bowel_gas(ct, body):
    vol, masks = ct
    lungs = lung_mask(vol.array, vol.spacing, body)
    gas = air_mask(vol.array, vol.spacing, body, lungs)
    gut = ndi.binary_dilation(_union(masks, GUT))
    assert gas.sum() * np.prod(vol.spacing) / 1000 > 50  # mL of gas in this abdomen
    assert np.count_nonzero(gas & gut) >= 0.9 * np.count_nonzero(gas)
    assert not (gas & lungs).any() and not (gas & ~body).any()


TABLE = LabelTable((
    Label(1, "liver", "LIV", "#dd8265", "soft_tissue"),
    Label(2, "body", "BODY", "#c8a080", "other"),
    Label(3, "lung_right", "LUNGR", "#c8dcf0", "air"),
    Label(4, "lung_left", "LUNGL", "#a0c0e0", "air"),
    Label(5, "bone", "BONE", "#f0f0dc", "bone"),
    Label(6, "air", "AIR", "#202020", "air"),
))


@pytest.fixture
def case(tmp_path, ct):
    vol, _ = ct
    return Case.create(tmp_path / "case", load_image(ABDOMEN / "ct.nii.gz"), label_table=TABLE)


def test_cli_prelabels_an_empty_case_with_provenance(case, ct, capsys):
    _, masks = ct
    assert main(["prelabel", str(case.root), "--structures", "body,lungs", "--structures", "bone,air",
                 "--user", "ann1"]) == 0
    out = capsys.readouterr().out
    assert "lung_left" in out and "pre-labelled 5 label(s)" in out
    draft = case.load_draft()
    assert draft.hash_matches
    assert sorted(np.unique(draft.array).tolist()) == [0, 2, 3, 4, 5, 6]
    side = json.loads(case.draft_path.with_name("draft_dseg.json").read_text())
    methods = {k: v["Method"] for k, v in side["Labels"].items() if "Method" in v}
    assert {side["Labels"][k]["Name"] for k in methods} == {"body", "lung_right", "lung_left", "bone", "air"}
    assert methods["5"]["Kind"] == "automatic" and methods["5"]["Name"] == "ctlabel.prelabel.bone"
    assert methods["5"]["Parameters"]["LowHU"] == 110.0
    assert side["Events"][-1]["Tool"] == "ctlabel prelabel" and side["Events"][-1]["Who"] == "ann1"
    assert all(not side["Labels"][k]["PaintedSlices"] for k in side["Labels"])  # nobody painted yet
    assert case_record.load_record(case)["Events"][-1]["Action"] == "saved"
    assert case_verify.verify_case(case).ok
    lobes = _union(masks, ["lung_"])
    on = np.flatnonzero(lobes.any(axis=(1, 2)))
    assert _dice(np.isin(draft.array, (3, 4))[on], lobes[on]) >= 0.95
    # the right lung is the right lung: its voxels lie in the right lobes
    right = _union(masks, ["lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right"])
    assert np.count_nonzero((draft.array == 3) & right) >= 0.9 * np.count_nonzero(draft.array == 3)
    # a second run finds the labels filled and says which
    assert main(["prelabel", str(case.root), "--structures", "bone", "--user", "ann1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bone (5)" in err and "already hold voxels" in err


def test_prelabel_never_paints_over_the_annotators_work(case, ct):
    vol, masks = ct
    painted = np.where(masks["liver"], 1, 0).astype(np.uint8)
    review.save_draft(case, painted, case.image_grid(), "ann1", painted={1: [50]})
    result = prelabel_case(case, ["body", "bone"], "ann1")
    draft = case.load_draft()
    assert set(result["labels"]) == {2, 5}
    assert np.array_equal(draft.array == 1, masks["liver"])  # the liver kept every voxel
    assert draft.painted == {1: [50]}
    painted[masks["lung_lower_lobe_left"]] = 4  # the annotator started the left lung
    review.save_draft(case, painted, case.image_grid(), "ann1")
    with pytest.raises(InputError, match=r"lung_left \(4\)"):
        prelabel_case(case, ["lungs"], "ann1")


def test_a_structure_without_a_label_is_refused_by_name(tmp_path, capsys):
    # the built-in table before bone, body and air were added: what old cases hold in labels.tsv
    old = LabelTable(tuple(lab for lab in default_label_table() if lab.index <= 13))
    assert [lab.name for lab in old if lab.tissue == "bone"] == ["vertebrae"]
    assert structures_for(old) == ("lungs",)
    plain = Case.create(tmp_path / "plain", load_image(ABDOMEN / "ct.nii.gz"), label_table=old)
    assert main(["prelabel", str(plain.root), "--structures", "lungs,body"]) == 2
    err = capsys.readouterr().err
    assert "'body'" in err and "labels.tsv" in err and "offers: lungs" in err
    assert not plain.draft_path.exists()
    with pytest.raises(InputError, match="'air'"):
        prelabel_case(plain, ["air"], "ann1")
    with pytest.raises(InputError, match="unknown structure 'liver'"):
        prelabel_case(plain, ["liver"], "ann1")
    # ribs and pelvis are not vertebrae: bone is refused, naming the table and the missing label
    assert main(["prelabel", str(plain.root), "--structures", "bone"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {plain.labels_path}: no 'bone' label") and "vertebrae is not bone" in err
    assert not plain.draft_path.exists()
    # the built-in table has a label for each structure: lungs to lung, bone to bone, body, air
    table = default_label_table()
    assert structures_for(table) == ("body", "lungs", "bone", "air")
    names = {s: table[v[0]].name for s, v in resolve_labels(table, structures_for(table)).items()}
    assert names == {"body": "body", "lungs": "lung", "bone": "bone", "air": "air"}
    full = Case.create(tmp_path / "full", load_image(ABDOMEN / "ct.nii.gz"), label_table=table)
    assert set(prelabel_case(full, ["lungs", "bone"], "ann1")["labels"]) == {12, 14}
    assert not np.any(full.load_draft().array == 11)  # nothing in vertebrae


def test_a_case_awaiting_review_is_not_prelabelled(case, ct, capsys):
    _, masks = ct
    review.save_draft(case, np.where(masks["liver"], 1, 0).astype(np.uint8), case.image_grid(), "ann1")
    review.submit(case, "ann1", force=True)
    assert main(["prelabel", str(case.root), "--structures", "bone", "--json"]) == 2
    assert "awaits review" in capsys.readouterr().err
    review.reject(case, "rev1", "bone missing")
    assert main(["prelabel", str(case.root), "--structures", "bone", "--user", "ann1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["labels"]) == ["5"] and result["labels"]["5"]["voxels"] > 0
    draft = case.load_draft()  # the rejected version's liver is kept in the new draft
    assert np.array_equal(draft.array == 1, masks["liver"])
    assert case_record.load_record(case)["State"] == "in_progress"


def test_the_method_of_a_prelabel_survives_saves_and_freezing_and_hand_edits_make_it_semiautomatic(tmp_path):
    import jsonschema

    import ctlabel
    from ctlabel.case.editing import EditingSession
    from ctlabel.io.provenance import schema

    sample = Path(__file__).resolve().parents[1] / "sample_data" / "totalseg_body_ct" / "dicom"
    table = LabelTable((Label(1, "body", "BOD", "#ffe0c0", "other"), Label(2, "bone", "BON", "#f0f0dc", "bone")))
    rep = ctlabel.convert([sample], tmp_path / "cases", progress=False,
                          options=ctlabel.ConvertOptions(label_table=table))
    case = Case.open(rep.converted[0]["case"])
    prelabel_case(case, ["bone", "body"], "ann1")
    assert case.load_draft().methods[2]["Kind"] == "automatic"
    with EditingSession.open(case.root, "ann1") as s:  # a hand edit of the bone label on one slice
        s.labels[5, 10:20, 10:20] = 2
        s.record_edit("paint", {2: {5}}, axis=0)
        s.save()
    methods = case.load_draft().methods
    assert methods[2]["Kind"] == "semiautomatic" and methods[1]["Kind"] == "automatic"
    review.submit(case, "ann1", force=True)
    frozen = case.load_version(1).methods
    assert frozen == methods
    jsonschema.validate(case.load_version(1).provenance.to_dict(), schema())
