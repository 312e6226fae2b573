"""The demo sample: a real 20-slice body CT, and the default label table on it.

The sample is what a new user sees first (``ctlabel demo``, ``ctlabel view``, napari's
*Open Sample*); painting the first organ of the default table on it must pass QA.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from data_paths import ROOT
from scipy import ndimage

import ctlabel
from ctlabel import Case
from ctlabel.io.labels import TISSUES, default_label_table
from ctlabel.measure.qa_targets import qa_target

SAMPLE = ROOT / "sample_data" / "totalseg_body_ct"


@pytest.fixture(scope="module")
def sample_case(tmp_path_factory) -> Case:
    report = ctlabel.convert([SAMPLE / "dicom"], tmp_path_factory.mktemp("sample") / "cases", jobs=1,
                             progress=False)
    assert report.ok and len(report.converted) == 1
    return Case.open(report.converted[0]["case"])


def test_sample_files_are_the_published_ones_with_their_licence():
    sums = (SAMPLE / "SHA256SUMS.txt").read_text().split("\n")
    listed = dict(reversed(line.split("  ", 1)) for line in sums if line.strip())
    assert len(listed) == 20 and sorted(listed) == sorted(f"dicom/{p.name}" for p in (SAMPLE / "dicom").iterdir())
    for name, digest in listed.items():
        assert hashlib.sha256((SAMPLE / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (SAMPLE / "LICENSE").read_text()
    assert "Apache" in (SAMPLE / "LICENSE_AND_SOURCE.txt").read_text()


def _body(hu_slice: np.ndarray) -> np.ndarray:
    """The largest connected region above -500 HU, holes filled: the trunk."""
    cc, _ = ndimage.label(ndimage.binary_fill_holes(hu_slice > -500))
    return cc == np.argmax(np.bincount(cc.ravel())[1:]) + 1


def test_sample_is_a_20_slice_body_ct_in_plausible_hu(sample_case):
    vol = sample_case.load_image()
    assert vol.shape == (20, 512, 512)
    assert np.allclose(vol.spacing, (2.0, 0.9765625, 0.9765625), atol=1e-3)
    for k in (0, vol.shape[0] // 2, vol.shape[0] - 1):
        hu = vol.array[k]
        body = _body(hu)
        outside = ~ndimage.binary_dilation(body, iterations=10)
        assert abs(np.median(hu[outside]) + 1000) < 30, k  # air around the patient
        inside = hu[body]
        assert 0.2 < body.mean() < 0.6, k  # a trunk filling a good part of the field of view
        assert 0 <= np.median(inside) <= 100, k  # mostly soft tissue
        assert ((inside >= -150) & (inside <= -50)).mean() > 0.05, k  # with fat around it
        assert (inside > 300).mean() > 0.005, k  # and bone (spine, ribs)


def _soft_tissue_organs(hu_slice: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected soft-tissue regions (40-200 HU) after an opening that cuts thin bridges, largest first."""
    soft = ndimage.binary_opening((hu_slice > 40) & (hu_slice < 200), iterations=8)
    return ndimage.label(soft)


def test_default_table_is_abdominal_and_qa_can_judge_it():
    table = default_label_table()
    names = [lab.name for lab in table]
    for organ in ("liver", "spleen", "kidney_right", "kidney_left", "pancreas", "aorta"):
        assert organ in names
    assert "brain" not in names
    abbreviations = [lab.abbreviation for lab in table]
    assert len(set(names)) == len(names) and len(set(abbreviations)) == len(abbreviations)
    assert all(a and a == a.upper() for a in abbreviations)
    assert len({lab.color.lower() for lab in table}) == len(table)
    assert all(lab.tissue in TISSUES for lab in table)
    assert table[1].name == "liver" and table[1].tissue == "soft_tissue"  # what a new user paints first


def test_painting_liver_on_the_sample_passes_qa(sample_case):
    vol = sample_case.load_image()
    table = sample_case.load_labels()
    assert table == default_label_table()
    liver = next(lab.index for lab in table if lab.name == "liver")
    a, b = 4, 14
    mask = np.zeros(vol.shape, np.uint8)
    for k in (a, b):
        cc, n = _soft_tissue_organs(vol.array[k])
        sizes = np.bincount(cc.ravel())[1:]
        organ = cc == np.argmax(sizes) + 1
        # the largest soft-tissue organ of the upper abdomen is the liver, on the patient's right (RAS x > 0)
        r, c = np.argwhere(organ).mean(axis=0)
        assert (vol.affine @ [c, r, k, 1])[0] > 0
        mask[k][ndimage.binary_erosion(organ, iterations=3)] = liver
    filled, interpolated = ctlabel.interpolate_with_report(mask, {liver: [a, b]}, axis=0, spacing=vol.spacing)
    assert interpolated[liver] == list(range(a + 1, b))
    sample_case.save_draft(filled, sample_case.image_grid(), painted={liver: [a, b]}, interpolated=interpolated,
                           annotator="test")
    rep = qa_target(str(sample_case.root))
    assert rep.ok, [f.message for f in rep.findings]
    assert not [f for f in rep.findings if f.check == "soft_tissue_on_air"]

    # the same label on the air in front of the patient is an error: the check is alive on this data
    air = np.zeros(vol.shape, np.uint8)
    air[a:b, 5:60, 200:300] = liver
    assert (vol.array[air > 0] < -500).all()
    sample_case.save_draft(air, sample_case.image_grid(), painted={liver: list(range(a, b))}, annotator="test")
    rep = qa_target(str(sample_case.root))
    assert not rep.ok and [f.label for f in rep.findings if f.check == "soft_tissue_on_air"] == [liver]
