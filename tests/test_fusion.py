"""Fusing reads (ctlabel.measure.fusion) on TotalSegmentator's real abdominal masks, against SimpleITK
called directly, and a case built so that STAPLE and majority vote differ."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from data_paths import ANATOMY
from scipy import ndimage

from ctlabel.errors import InputError
from ctlabel.measure.fusion import ReaderFigures, fuse, lowest_dice, recorded_figures
from ctlabel.model import CaseRecord, Event, FusionMethod

MASKS = ANATOMY / "totalseg_example_ct" / "masks"


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    out = None
    for value, name in ((1, "liver"), (2, "spleen"), (3, "kidney_left")):
        m = np.asanyarray(nib.load(MASKS / f"{name}.nii.gz").dataobj) > 0
        out = np.zeros(m.shape, np.uint8) if out is None else out
        out[m] = value
    assert out is not None
    return out


@pytest.fixture(scope="module")
def reads(truth) -> tuple[list[np.ndarray], np.ndarray]:
    """Three readers with label noise near the organs (reader 1 rarely wrong, 2 and 3 often), and a
    region (the top third of the liver) where they disagree three ways: 1 says liver, 2 spleen, 3 nothing."""
    liver = truth == 1
    ks = np.flatnonzero(liver.any((1, 2)))
    region = liver.copy()
    region[: ks.min() + (ks.max() - ks.min()) * 2 // 3] = False
    rng = np.random.default_rng(7)
    near = ndimage.binary_dilation(truth > 0, iterations=2)
    out = []
    for p in (0.002, 0.03, 0.03):
        r = truth.copy()
        flip = near & (rng.random(truth.shape) < p)
        r[flip] = rng.integers(0, 4, int(flip.sum()))
        out.append(r)
    out[1][region] = 2
    out[2][region] = 0
    return out, region


def _dice(a: np.ndarray, b: np.ndarray, label: int) -> float:
    x, y = a == label, b == label
    return 2 * np.count_nonzero(x & y) / (np.count_nonzero(x) + np.count_nonzero(y))


def test_staple_is_simpleitk_called_directly(reads):
    masks, _ = reads
    got = fuse(masks, "staple", readers=["ann1", "ann2", "ann3"])
    f = sitk.MultiLabelSTAPLEImageFilter()
    f.SetLabelForUndecidedPixels(0)
    direct = sitk.GetArrayFromImage(f.Execute([sitk.GetImageFromArray(m) for m in masks]))
    assert got.method is FusionMethod.STAPLE and np.array_equal(got.labels, direct)
    for k, fig in enumerate(got.readers):
        cm = np.asarray(f.GetConfusionMatrix(k)).reshape(5, 4)  # rows: the reader's label (+ one), columns: truth
        assert fig.reader == f"ann{k + 1}"
        for lab in (1, 2, 3):
            assert fig.sensitivity[lab] == pytest.approx(cm[lab, lab])
            assert fig.dice[lab] == pytest.approx(_dice(masks[k], direct, lab))
            w = np.bincount(direct.ravel(), minlength=4).astype(float)
            w[lab] = 0
            assert fig.specificity[lab] == pytest.approx(np.dot(w, 1 - cm[lab]) / w.sum())
    # reader 1 is the reliable one, and STAPLE says so
    assert got.readers[0].mean_dice > 0.99 > got.readers[2].mean_dice > got.readers[1].mean_dice
    assert got.readers[0].sensitivity[1] > 0.99 > 0.5 > got.readers[1].sensitivity[1]


def test_vote_is_simpleitk_called_directly(reads):
    masks, _ = reads
    got = fuse(masks, FusionMethod.VOTE)
    v = sitk.LabelVotingImageFilter()
    v.SetLabelForUndecidedPixels(0)
    direct = sitk.GetArrayFromImage(v.Execute([sitk.GetImageFromArray(m) for m in masks]))
    assert np.array_equal(got.labels, direct)
    assert [r.reader for r in got.readers] == ["1", "2", "3"]
    for k, fig in enumerate(got.readers):  # counted against the fusion
        truth, said = direct == 2, masks[k] == 2
        assert fig.sensitivity[2] == pytest.approx(np.count_nonzero(truth & said) / np.count_nonzero(truth))
        assert fig.specificity[2] == pytest.approx(np.count_nonzero(~truth & ~said) / np.count_nonzero(~truth))


def test_staple_and_vote_differ_where_the_readers_disagree_three_ways(reads):
    masks, region = reads
    staple, vote = fuse(masks, "staple"), fuse(masks, "vote")
    n = np.count_nonzero(region)
    # the vote ties (one reader each) and leaves it unlabelled; STAPLE follows the reliable reader
    assert np.count_nonzero(vote.labels[region] == 0) > 0.99 * n
    assert np.count_nonzero(staple.labels[region] == 1) > 0.99 * n
    assert np.count_nonzero(staple.labels != vote.labels) > 0.99 * n
    # the disagreement map: where the three say liver, spleen, nothing, two readers differ from either fusion
    three = region & (masks[0] == 1) & (staple.labels == 1) & (vote.labels == 0)
    assert np.count_nonzero(three) > 0.99 * n
    assert np.all(vote.disagreement[three] == 2) and np.all(staple.disagreement[three] == 2)
    same = (masks[0] == masks[1]) & (masks[1] == masks[2])
    assert not staple.disagreement[same].any() and staple.disagreement[~same].all()
    assert staple.disagreement_voxels == np.count_nonzero(~same)


def test_identical_reads_fuse_to_themselves(truth):
    got = fuse([truth, truth.copy()], "staple")
    assert np.array_equal(got.labels, truth) and got.disagreement_voxels == 0
    assert all(d == 1.0 for r in got.readers for d in r.dice.values())


def test_refusals(truth):
    with pytest.raises(InputError, match="two masks or more"):
        fuse([truth])
    with pytest.raises(InputError, match="different shapes"):
        fuse([truth, truth[:-1]])
    with pytest.raises(InputError, match="no fusion method"):
        fuse([truth, truth], "mean")
    with pytest.raises(InputError, match="integer"):
        fuse([truth.astype(float), truth])


def test_lowest_dice_is_the_worst_label(truth):
    other = truth.copy()
    other[ndimage.binary_erosion(truth == 3, iterations=2)] = 0  # the kidney shrunk to its rim
    worst = lowest_dice(truth, other)
    assert worst == pytest.approx(_dice(truth, other, 3)) and worst < 0.9
    assert lowest_dice(truth, truth) == 1.0
    assert lowest_dice(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)) is None


def test_figures_round_trip_through_an_event(reads):
    masks, _ = reads
    got = fuse(masks, "staple", readers=["a", "b", "c"])
    ev = lambda action, **extra: Event("a", "annotator", "2026-01-01T00:00:00.000Z", action, extra=extra)  # noqa: E731
    record = CaseRecord("submitted", (ev("read"), ev("submitted", Fusion=got.record()), ev("saved")))
    found = recorded_figures(record)
    assert found is not None
    method, figures = found
    assert method is FusionMethod.STAPLE and [f.reader for f in figures] == ["a", "b", "c"]
    assert figures[1].dice[2] == pytest.approx(got.readers[1].dice[2], abs=1e-4)
    assert isinstance(figures[0], ReaderFigures) and recorded_figures(CaseRecord("in_progress")) is None
