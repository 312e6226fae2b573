"""Benchmark of :func:`ctlabel.interpolate`: accuracy and speed against references.

Run from the repository root::

    python benchmarks/interpolate.py            # everything
    python benchmarks/interpolate.py --quick    # skip the head CT and the big volumes

It prints

1. a table shape x k x method -> Dice on the filled slices and time, for the five
   synthetic shapes of ``tests/shapes.py`` and the skull of the Philips 1 mm head CT
   (``tests/data/ct``: the pixels of ``../shared/data/ct``'s copy, stored JPEG-LS lossless);
2. the speed cases of issue 3: a 150 x 512 x 512 volume with 3 labels painted every
   5th slice (target <= 1.0 s) and one label across a 40-slice gap on 512 x 512
   slices (target <= 0.3 s);

each with ratios against the references measured in the same run:

* ``naive``: a plain shape-based interpolation on whole slices in float64 (one
  full-volume signed distance array per label, linear blend, argmin over labels);
* ``itk-mci``: ITK's MorphologicalContourInterpolator (what 3D Slicer, ITK-SNAP and
  OHIF use), when ``itk-morphologicalcontourinterpolation`` is installed (optional,
  about 1.5 GB: ``pip install itk-morphologicalcontourinterpolation``). Its first
  call takes about 11 s to load; that is reported apart and not counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from shapes import SHAPES, painted_slices, pooled_dice  # noqa: E402

from ctlabel.interpolate import interpolate_with_report  # noqa: E402

HEAD_SERIES = ROOT / "tests" / "data" / "ct" / "dcmqa_ct_philips_brain" / "dicom" / "S21570" / "S2020"

Method = Callable[[np.ndarray, dict[int, list[int]], tuple[float, float, float]], np.ndarray]


# --------------------------------------------------------------------------
# methods
# --------------------------------------------------------------------------


def ours(vol: np.ndarray, painted: dict[int, list[int]], spacing: tuple[float, float, float]) -> np.ndarray:
    return interpolate_with_report(vol, painted, spacing=spacing).labels


def naive(vol: np.ndarray, painted: dict[int, list[int]], spacing: tuple[float, float, float]) -> np.ndarray:
    """Plain shape-based interpolation: full slices, float64, one full volume per label."""
    sampling = spacing[1:]
    out = vol.copy()
    best = np.full(vol.shape, np.inf)
    best_lab = np.zeros(vol.shape, dtype=vol.dtype)
    for lab, zs in painted.items():
        field = np.full(vol.shape, np.inf)
        for z in zs:
            m = vol[z] == lab
            field[z] = ndi.distance_transform_edt(~m, sampling=sampling) - ndi.distance_transform_edt(
                m, sampling=sampling
            )
        for a, b in zip(zs[:-1], zs[1:], strict=True):
            for z in range(a + 1, b):
                t = (z - a) / (b - a)
                field[z] = (1 - t) * field[a] + t * field[b]
        painted_set = set(zs)
        for z in range(zs[0], zs[-1]):
            if z not in painted_set:
                better = field[z] < best[z]
                best[z][better] = field[z][better]
                best_lab[z][better] = lab
    fill = (best < 0) & (out == 0)
    out[fill] = best_lab[fill]
    return out


_itk = None


def itk_available() -> bool:
    global _itk
    try:
        import itk

        itk.MorphologicalContourInterpolator  # noqa: B018
    except (ImportError, AttributeError):
        return False
    _itk = itk
    return True


def itk_mci(vol: np.ndarray, painted: dict[int, list[int]], spacing: tuple[float, float, float]) -> np.ndarray:
    """ITK MorphologicalContourInterpolator along numpy axis 0 (ITK axis 2), all labels."""
    assert _itk is not None
    image = _itk.image_from_array(np.ascontiguousarray(vol))
    image.SetSpacing([float(s) for s in spacing[::-1]])
    f = _itk.MorphologicalContourInterpolator.New(image)
    f.SetAxis(2)
    f.Update()
    return _itk.array_from_image(f.GetOutput()).astype(vol.dtype)


def timed(fn: Method, *args: object) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn(*args)  # type: ignore[arg-type]
    return out, time.perf_counter() - t0


# --------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------


def paint(truth: np.ndarray, painted: dict[int, list[int]]) -> np.ndarray:
    vol = np.zeros(truth.shape, dtype=truth.dtype)
    for lab, zs in painted.items():
        vol[zs] = np.where(truth[zs] == lab, lab, vol[zs])
    return vol


def filled_slices(zs: list[int]) -> list[int]:
    s = set(zs)
    return [z for z in range(zs[0], zs[-1]) if z not in s]


def load_skull() -> tuple[np.ndarray, tuple[float, float, float]] | None:
    if not HEAD_SERIES.is_dir():
        return None
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(HEAD_SERIES)))
    image = reader.Execute()
    comp, _ = ndi.label(sitk.GetArrayFromImage(image) > 300)
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    return comp == sizes.argmax(), tuple(float(s) for s in image.GetSpacing()[::-1])


def accuracy(methods: dict[str, Method], with_skull: bool) -> None:
    cases: list[tuple[str, np.ndarray, tuple[float, float, float]]] = [
        (name, gen(), (1.0, 1.0, 1.0)) for name, gen in SHAPES.items()
    ]
    if with_skull:
        sk = load_skull()
        if sk is None:
            print(f"(head CT not found at {HEAD_SERIES}: skull skipped)")
        else:
            cases.append(("skull (head CT)", sk[0], sk[1]))
    names = list(methods)
    print("\nAccuracy: Dice pooled over the filled slices, time per call")
    head = f"{'shape':<16} {'k':>3} " + " ".join(f"{m + ' Dice':>14} {'time':>7}" for m in names)
    print(head)
    print("-" * len(head))
    for name, mask, spacing in cases:
        truth = mask.astype(np.uint8)
        for k in (5, 10):
            zs = painted_slices(mask, k)
            vol = paint(truth, {1: zs})
            filled = filled_slices(zs)
            row = f"{name:<16} {k:>3} "
            for m in names:
                out, dt = timed(methods[m], vol, {1: zs}, spacing)
                dice = pooled_dice(out == 1, mask, filled)
                row += f"{dice:>14.3f} {dt:>6.2f}s"
            print(row)


# --------------------------------------------------------------------------
# speed
# --------------------------------------------------------------------------


def big_volume() -> np.ndarray:
    """150 x 512 x 512: a body-like label 1 around an organ (label 2) and a vessel (label 3)."""
    n, h, w = 150, 512, 512
    vol = np.zeros((n, h, w), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for z in range(5, 145):
        s = (z - 5) / 139
        ay = 150 + 40 * np.sin(np.pi * s)
        ax = 200 + 30 * np.sin(np.pi * s)
        vol[z][((yy - 256) / ay) ** 2 + ((xx - 256) / ax) ** 2 <= 1] = 1
    for z in range(30, 120):
        s = (z - 75) / 45
        r = np.sqrt(max(0.0, 1 - s * s))
        cy, cx = 230 + 20 * s, 180 + 15 * s
        organ = ((yy - cy) / (60 * r + 1e-6)) ** 2 + ((xx - cx) / (45 * r + 1e-6)) ** 2 <= 1
        vol[z][organ & (vol[z] == 1)] = 2
    for z in range(10, 140):
        s = (z - 10) / 129
        cy, cx = 300 - 80 * s, 330 + 60 * np.sin(2 * np.pi * s)
        vol[z][((yy - cy) ** 2 + (xx - cx) ** 2 <= 10**2) & (vol[z] == 1)] = 3
    return vol


def speed(methods: dict[str, Method]) -> None:
    print("\nSpeed")
    truth = big_volume()
    painted = {lab: painted_slices(truth == lab, 5) for lab in (1, 2, 3)}
    vol = paint(truth, painted)
    spacing = (1.0, 0.7, 0.7)
    results: dict[str, tuple[float, list[float]]] = {}
    for m, fn in methods.items():
        out, dt = timed(fn, vol, painted, spacing)
        dices = [pooled_dice(out == lab, truth == lab, filled_slices(zs)) for lab, zs in painted.items()]
        results[m] = (dt, dices)
    print("150x512x512, 3 labels, painted every 5th slice (target <= 1.0 s)")
    for m, (dt, dices) in results.items():
        ratio = " ".join(f"{dt / results[r][0]:.2f}x {r}" for r in results if r != m)
        print(f"  {m:<8} {dt:6.2f} s   Dice per label {', '.join(f'{d:.3f}' for d in dices)}   ({ratio})")

    h = w = 512
    yy, xx = np.mgrid[0:h, 0:w]
    one = np.zeros((41, h, w), dtype=np.uint8)
    one[0][((yy - 256) / 180) ** 2 + ((xx - 256) / 210) ** 2 <= 1] = 1
    one[40][((yy - 240) / 150) ** 2 + ((xx - 280) / 190) ** 2 <= 1] = 1
    # the same, but the second slice is small and off centre: aligned (moved and scaled) blend
    moved = one.copy()
    moved[40] = 0
    moved[40][((yy - 300) / 60) ** 2 + ((xx - 330) / 80) ** 2 <= 1] = 1
    for title, case in (("overlapping", one), ("shrinking and moving", moved)):
        results2: dict[str, float] = {}
        for m, fn in methods.items():
            _, results2[m] = timed(fn, case, {1: [0, 40]}, (1.0, 0.7, 0.7))
        print(f"one label across a 40-slice gap, 512x512 slices, {title} (target <= 0.3 s)")
        for m, dt in results2.items():
            ratio = " ".join(f"{dt / results2[r]:.2f}x {r}" for r in results2 if r != m)
            print(f"  {m:<8} {dt:6.3f} s   ({ratio})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="synthetic shapes only")
    parser.add_argument("--no-itk", action="store_true", help="do not run ITK MCI")
    args = parser.parse_args()

    methods: dict[str, Method] = {"ctlabel": ours, "naive": naive}
    if not args.no_itk and itk_available():
        warm = np.zeros((3, 16, 16), dtype=np.uint8)
        warm[0, 4:8, 4:8] = warm[2, 5:9, 5:9] = 1
        _, first = timed(itk_mci, warm, {1: [0, 2]}, (1.0, 1.0, 1.0))
        print(f"itk-mci loaded (first call {first:.1f} s, not counted below)")
        methods["itk-mci"] = itk_mci
    else:
        print("itk-mci not run (pip install itk-morphologicalcontourinterpolation to compare)")

    accuracy(methods, with_skull=not args.quick)
    if not args.quick:
        speed(methods)
    sys.stdout.flush()
    if "itk-mci" in methods:
        # ITK's Python wrapping can abort while tearing down at exit; skip the teardown
        os._exit(0)


if __name__ == "__main__":
    main()
