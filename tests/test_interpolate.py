"""Tests of :mod:`ctlabel.interpolate`: accuracy on synthetic and real shapes, behaviour, errors."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_paths import PHILIPS_1MM
from shapes import SHAPES, painted_slices, pooled_dice

from ctlabel.errors import CtlabelError, InputError
from ctlabel.interpolate import (
    InterpolationResult,
    interpolate,
    interpolate_with_report,
)

HEAD_SERIES = PHILIPS_1MM

# Dice floors on the filled slices. The targets are 0.93 (k=5) and 0.85 (k=10) on every
# shape; measured values are in docs/interpolation.md and the floors sit a little under them.
FLOORS = {
    5: {"ellipsoid": 0.98, "trouser": 0.98, "shifted_disc": 0.99, "thin_tube": 0.95, "crescent": 0.935},
    10: {"ellipsoid": 0.955, "trouser": 0.97, "shifted_disc": 0.99, "thin_tube": 0.94, "crescent": 0.925},
}


def _paint(mask: np.ndarray, zs: list[int], label: int = 1, dtype: type = np.uint8) -> np.ndarray:
    vol = np.zeros(mask.shape, dtype=dtype)
    vol[zs] = np.where(mask[zs], label, 0)
    return vol


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# --------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes() -> dict[str, np.ndarray]:
    return {name: gen() for name, gen in SHAPES.items()}


@pytest.mark.parametrize("k", [5, 10])
@pytest.mark.parametrize("name", list(SHAPES))
def test_synthetic_shape_dice(shapes: dict[str, np.ndarray], name: str, k: int) -> None:
    truth = shapes[name]
    zs = painted_slices(truth, k)
    out, filled = interpolate_with_report(_paint(truth, zs), {1: zs})
    assert filled[1] == [z for z in range(zs[0], zs[-1]) if z not in zs]
    dice = pooled_dice(out == 1, truth, filled[1])
    assert dice >= FLOORS[k][name], f"{name} k={k}: Dice {dice:.3f}"
    assert dice >= (0.93 if k == 5 else 0.85)  # the targets


@pytest.fixture(scope="module")
def skull() -> tuple[np.ndarray, tuple[float, float, float]]:
    sitk = pytest.importorskip("SimpleITK")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(HEAD_SERIES)))
    image = reader.Execute()
    hu = sitk.GetArrayFromImage(image)
    assert hu.shape == (140, 512, 512)
    comp, _ = ndi.label(hu > 300)
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    return comp == sizes.argmax(), tuple(float(s) for s in image.GetSpacing()[::-1])


@pytest.mark.parametrize(("k", "floor"), [(5, 0.90), (10, 0.80)])
def test_skull_dice(skull: tuple[np.ndarray, tuple[float, float, float]], k: int, floor: float) -> None:
    mask, spacing = skull
    zs = painted_slices(mask, k)
    out, filled = interpolate_with_report(_paint(mask, zs), {1: zs}, spacing=spacing)
    dice = pooled_dice(out == 1, mask, filled[1])
    print(f"skull k={k}: Dice {dice:.3f}")
    assert dice >= floor


# --------------------------------------------------------------------------
# behaviour
# --------------------------------------------------------------------------


def _two_slice_volume() -> np.ndarray:
    vol = np.zeros((11, 40, 40), dtype=np.int16)
    vol[0][_disc((40, 40), 20, 20, 12)] = 1
    vol[10][_disc((40, 40), 20, 20, 6)] = 1
    return vol


def test_result_type_and_report() -> None:
    vol = _two_slice_volume()
    res = interpolate_with_report(vol, {1: [0, 10]})
    assert isinstance(res, InterpolationResult)
    assert res.filled == {1: list(range(1, 10))}
    assert res.labels.dtype == vol.dtype and res.labels.shape == vol.shape
    arr, filled = res
    assert arr is res.labels and filled is res.filled
    np.testing.assert_array_equal(interpolate(vol, {1: [0, 10]}), res.labels)


def test_concentric_discs_radius_interpolates_linearly() -> None:
    out = interpolate(_two_slice_volume(), {1: [0, 10]})
    areas = (out == 1).sum(axis=(1, 2))
    for z in range(1, 10):
        r = 12 - 6 * z / 10
        assert abs(areas[z] - np.pi * r * r) <= 2 * np.pi * r * 0.5 + 2, (z, areas[z])
    assert np.all(np.diff(areas) <= 0)


def test_input_not_modified_and_new_array() -> None:
    vol = _two_slice_volume()
    before = vol.copy()
    out = interpolate(vol, {1: [0, 10]})
    np.testing.assert_array_equal(vol, before)
    assert out is not vol and not np.shares_memory(out, vol)


def test_painted_slices_unchanged_and_only_given_slices_used() -> None:
    vol = _two_slice_volume()
    # stray voxels of label 1 on slice 5 are not a painted slice: they are replaced
    vol[5, 0:3, 0:3] = 1
    # a painted slice with an odd shape must come back exactly
    vol[10, 0:2, 30:40] = 1
    out = interpolate(vol, {1: [0, 10]})
    np.testing.assert_array_equal(out[0], vol[0])
    np.testing.assert_array_equal(out[10], vol[10])
    assert not out[5, 0:3, 0:3].any()


def test_no_fill_outside_painted_range() -> None:
    vol = np.zeros((20, 40, 40), dtype=np.uint8)
    for z in (5, 10, 15):
        vol[z][_disc((40, 40), 20, 20, 8)] = 1
    vol[0, 0:3, 0:3] = 1  # label 1 on an unpainted slice outside the range: kept
    out = interpolate(vol, {1: [5, 10, 15]})
    assert not out[1:5].any() and not out[16:].any()
    np.testing.assert_array_equal(out[0], vol[0])
    assert all(out[z].any() for z in range(5, 16))


def test_single_painted_slice_fills_nothing() -> None:
    vol = _two_slice_volume()
    res = interpolate_with_report(vol, {1: [0]})
    assert res.filled == {1: []}
    np.testing.assert_array_equal(res.labels, vol)


def test_other_labels_kept_unless_overwrite() -> None:
    vol = _two_slice_volume()
    vol[5, 15:25, 15:25] = 7  # another label in the way
    vol[0, 0:2, 0:2] = 7
    kept = interpolate(vol, {1: [0, 10]})
    assert np.all(kept[5, 15:25, 15:25] == 7)
    assert (kept[5] == 1).sum() > 100
    over = interpolate(vol, {1: [0, 10]}, overwrite=True)
    assert np.all(over[5, 15:25, 15:25] == 1)
    np.testing.assert_array_equal(over[0], vol[0])


def test_overwrite_never_touches_painted_voxels_of_another_label() -> None:
    vol = _two_slice_volume()
    vol[5, 15:25, 15:25] = 2  # label 2 painted on slice 5
    vol[3, 15:25, 15:25] = 2
    out = interpolate(vol, {1: [0, 10], 2: [3, 5]}, overwrite=True)
    assert np.all(out[5, 15:25, 15:25] == 2)
    assert np.all(out[3, 15:25, 15:25] == 2)
    assert np.all(out[4, 15:25, 15:25] > 0)


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_any_axis_equals_transposed(axis: int) -> None:
    truth = SHAPES["shifted_disc"]()
    zs = painted_slices(truth, 5)
    vol = _paint(truth, zs)
    ref = interpolate(vol, {1: zs}, spacing=(1.0, 0.8, 0.6))
    moved = np.moveaxis(vol, 0, axis)
    spacing = [0.8, 0.6]
    spacing.insert(axis % 3, 1.0)
    out = interpolate(moved, {1: zs}, axis=axis, spacing=spacing)
    np.testing.assert_array_equal(np.moveaxis(out, axis, 0), ref)


def test_anisotropic_spacing_is_respected() -> None:
    # A plus-shaped cross (arms 52 x 12 mm) and a disc of radius 22 mm, concentric, on pixels of
    # 1 x 3 mm. The interpolated mid slice must match the same problem solved on a 1 x 1 mm grid.
    def problem(sx: float, nx: int) -> np.ndarray:
        yy, xx = np.mgrid[0:64, 0:nx].astype(float)
        x = (xx - (nx - 1) / 2) * sx
        y = yy - 31.5
        vol = np.zeros((3, 64, nx), dtype=np.uint8)
        vol[0] = ((np.abs(x) <= 6) & (np.abs(y) <= 26)) | ((np.abs(y) <= 6) & (np.abs(x) <= 26))
        vol[2] = x**2 + y**2 <= 22**2
        return vol

    fine = interpolate(problem(1.0, 63), {1: [0, 2]})[1] == 1
    fine_at_coarse = fine[:, 1::3]  # the centres of the 3 mm pixels
    good = interpolate(problem(3.0, 21), {1: [0, 2]}, spacing=(5.0, 1.0, 3.0))[1] == 1
    bad = interpolate(problem(3.0, 21), {1: [0, 2]})[1] == 1

    def dice(a: np.ndarray, b: np.ndarray) -> float:
        return 2 * (a & b).sum() / (a.sum() + b.sum())

    assert dice(good, fine_at_coarse) > 0.98
    assert dice(good, fine_at_coarse) > dice(bad, fine_at_coarse) + 0.02


def test_split_and_merge() -> None:
    shape = (64, 64)
    one = _disc(shape, 32, 32, 10)
    two = _disc(shape, 32, 22, 8) | _disc(shape, 32, 42, 8)
    vol = np.zeros((21, *shape), dtype=np.uint8)
    vol[0], vol[10], vol[20] = one, two, one
    out = interpolate(vol, {1: [0, 10, 20]})
    ncomp = [ndi.label(out[z] == 1)[1] for z in range(21)]
    assert ncomp[0] == 1 and ncomp[10] == 2 and ncomp[20] == 1
    assert all(n in (1, 2) for n in ncomp)
    # between the one and the two the shape covers the middle early and both lobes late
    assert out[2, 32, 32] == 1 and out[8, 32, 22] == 1 and out[8, 32, 42] == 1
    assert out[12, 32, 22] == 1 and out[12, 32, 42] == 1
    np.testing.assert_array_equal(out[:11], out[20:9:-1])


def test_unpartnered_component_tapers_out() -> None:
    shape = (64, 64)
    vol = np.zeros((11, *shape), dtype=np.uint8)
    vol[0] = _disc(shape, 20, 20, 8) | _disc(shape, 45, 45, 8)
    vol[10] = _disc(shape, 20, 20, 8)
    out = interpolate(vol, {1: [0, 10]})
    area = [(out[z, 30:, 30:] == 1).sum() for z in range(11)]
    assert all(a > b for a, b in itertools.pairwise(area) if a > 0)
    assert area[1] > 0.6 * area[0] and area[9] < 0.1 * area[0] and area[10] == 0
    # the partnered disc stays put, nothing smears between the two
    assert all((out[z, :30, :30] == 1).sum() == (vol[0, :30, :30] == 1).sum() for z in range(11))
    assert not out[:, 28:34, 28:34].any()


def test_moving_component_is_aligned_not_smeared() -> None:
    shape = (40, 120)
    vol = np.zeros((11, *shape), dtype=np.uint8)
    vol[0] = _disc(shape, 20, 20, 8)
    vol[10] = _disc(shape, 20, 90, 8)
    out = interpolate(vol, {1: [0, 10]})
    for z in range(1, 10):
        m = out[z] == 1
        assert ndi.label(m)[1] == 1
        cy, cx = ndi.center_of_mass(m)
        assert abs(cx - (20 + 7 * z)) < 0.6 and abs(cy - 20) < 0.6
        assert abs(m.sum() - (vol[0] == 1).sum()) < 12


def test_thin_ring_that_grows_more_than_its_thickness_does_not_vanish() -> None:
    # a 4 px thick ring growing from radius 12 to 30: the two rings do not overlap, and a plain
    # blend of distance maps would leave the middle slices empty; scaled alignment keeps a ring
    shape = (96, 96)
    yy, xx = np.mgrid[0:96, 0:96]
    r = np.hypot(yy - 48, xx - 48)
    vol = np.zeros((11, *shape), dtype=np.uint8)
    vol[0] = np.abs(r - 12) <= 2
    vol[10] = np.abs(r - 30) <= 2
    out = interpolate(vol, {1: [0, 10]})
    for z in range(1, 10):
        m = out[z] == 1
        radius = 12 + 18 * z / 10
        truth = np.abs(r - radius) <= 2
        assert 2 * (m & truth).sum() / (m.sum() + truth.sum()) > 0.85, z
        assert ndi.label(m)[1] == 1


def test_empty_painted_slice_ends_the_structure() -> None:
    vol = _two_slice_volume()
    vol[10] = 0
    out = interpolate(vol, {1: [0, 10]})
    area = (out == 1).sum(axis=(1, 2))
    assert area[10] == 0 and area[9] < area[5] < area[1]


def test_multi_label_no_overlap_and_nearest_label_wins() -> None:
    # label 1 is a disc on slice 0 and ends on slice 10 (painted empty); label 2 is the
    # same disc on slice 10 and painted empty on slice 0: both taper into the same place
    shape = (64, 64)
    vol = np.zeros((11, *shape), dtype=np.uint8)
    vol[0][_disc(shape, 32, 32, 14)] = 1
    vol[10][_disc(shape, 32, 32, 14)] = 2
    res = interpolate_with_report(vol, {1: [0, 10], 2: [0, 10]})
    out = res.labels
    assert res.filled == {1: list(range(1, 10)), 2: list(range(1, 10))}
    alone1 = interpolate(np.where(vol == 1, 1, 0).astype(np.uint8), {1: [0, 10]}) == 1
    alone2 = interpolate(np.where(vol == 2, 2, 0).astype(np.uint8), {2: [0, 10]}) == 2
    assert (alone1 & alone2)[1:10].any()  # alone, they would overlap
    np.testing.assert_array_equal(out > 0, alone1 | alone2)
    # where both would fill, the label deeper inside its own shape wins
    for z in range(1, 5):
        assert not (out[z] == 2).any() and (out[z] == 1).sum() == alone1[z].sum()
    for z in range(6, 10):
        assert not (out[z] == 1).any() and (out[z] == 2).sum() == alone2[z].sum()


def test_infer_painted_when_none() -> None:
    vol = _two_slice_volume()
    vol[2, 0:3, 0:3] = 3
    vol[6, 0:3, 0:3] = 3
    res = interpolate_with_report(vol, None)
    assert res.filled == {1: list(range(1, 10)), 3: [3, 4, 5]}
    assert np.all(res.labels[3:6, 0:3, 0:3] == 3)


def test_bool_and_wide_integer_dtypes() -> None:
    vol = _two_slice_volume()
    ref = interpolate(vol, {1: [0, 10]}) == 1
    for dtype in (bool, np.uint8, np.int32, np.uint16, np.int64):
        out = interpolate(vol.astype(dtype), {1: [0, 10]})
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out == 1, ref)
    big = vol.astype(np.int32) * 70000
    out = interpolate(big, {70000: [0, 10]})
    np.testing.assert_array_equal(out == 70000, ref)


def test_large_label_volume_interactive_case_is_fast() -> None:
    import time

    vol = np.zeros((41, 512, 512), dtype=np.uint8)
    vol[0][_disc((512, 512), 256, 256, 200)] = 1
    vol[40][_disc((512, 512), 240, 270, 150)] = 1
    t0 = time.perf_counter()
    out = interpolate(vol, {1: [0, 40]})
    elapsed = time.perf_counter() - t0
    assert out[20].any()
    # generous for slow CI; the benchmark checks the real 0.3 s target
    assert elapsed < 2.0


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "painted", "kwargs", "match"),
    [
        (np.zeros((4, 4, 4), dtype=np.float32), {1: [0, 3]}, {}, "integer array"),
        (np.zeros((4, 4), dtype=np.uint8), {1: [0, 3]}, {}, "3D"),
        ([[[0]]], {1: [0]}, {}, "numpy array"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: [0, 4]}, {}, "out of range"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: [-1, 2]}, {}, "out of range"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: [0, 9]}, {"axis": 2}, "out of range"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: [0, 1.5]}, {}, "not an integer"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: "03"}, {}, "iterable"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {0: [0, 3]}, {}, "background"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {300: [0, 3]}, {}, "does not fit"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1.0: [0, 3]}, {}, "not an integer"),
        (np.zeros((4, 4, 4), dtype=np.uint8), [0, 3], {}, "mapping"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: [0, 3]}, {"axis": 3}, "axis"),
        (np.zeros((4, 4, 4), dtype=np.uint8), {1: [0, 3]}, {"axis": 1.0}, "axis"),
        (
            np.zeros((4, 4, 4), dtype=np.uint8),
            {1: [0, 3]},
            {"spacing": (1, 1)},
            "spacing",
        ),
        (
            np.zeros((4, 4, 4), dtype=np.uint8),
            {1: [0, 3]},
            {"spacing": (1, 0, 1)},
            "spacing",
        ),
        (
            np.zeros((4, 4, 4), dtype=np.uint8),
            {1: [0, 3]},
            {"spacing": "abc"},
            "spacing",
        ),
        (
            np.zeros((4, 4, 4), dtype=np.uint8),
            {1: [0, 3]},
            {"overwrite": "yes"},
            "overwrite",
        ),
    ],
)
def test_invalid_input_raises_input_error(labels: object, painted: object, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        interpolate(labels, painted, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, CtlabelError) and isinstance(info.value, ValueError)
