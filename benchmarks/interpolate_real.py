"""Benchmark of image-aware interpolation on real anatomy (``ctlabel.interpolate(..., image=ct)``).

Run from the repository root::

    python benchmarks/interpolate_real.py                 # everything (a few minutes)
    python benchmarks/interpolate_real.py --only aorta    # structures whose name contains "aorta"
    python benchmarks/interpolate_real.py --no-itk --no-timing --mm 9

Data: the two sets of ``tests/data/anatomy`` (copies of ``../shared/data/anatomy``:
TotalSegmentator's example CT, 3 mm isotropic, with its masks; and its CTA crop around the
aorta, 1.5 mm, with the aorta and T12 masks). Both are read with nibabel, brought to RAS (``as_closest_canonical``) and
transposed to ``(slice, row, column)`` = ``(S, A, R)``, so the slice axis is the axial axis.

Structures: every mask with at least 500 voxels on at least 6 axial slices, one at a time
(a label volume holding only that structure). Painted slices: along the axial axis, every
``k``-th slice of the structure's own extent from its first slice, plus its last (the rule of
``benchmarks/interpolate.py``), with ``k = round(mm / slice thickness)``: 6, 9 and 15 mm are
k = 2, 3, 5 on the 3 mm CT and k = 4, 6, 10 on the 1.5 mm CTA. Dice is pooled over the
filled slices (between the first and last painted slice, not painted).

Methods, in the same run: ``shape`` (``interpolate`` without image), ``image``
(``interpolate(..., image=ct)``) and ``itk-mci`` (ITK's MorphologicalContourInterpolator,
when ``itk-morphologicalcontourinterpolation`` is installed).

Then timing: one label across a 40-slice gap at 512 x 512 (the CTA's aorta and CT upsampled
in-plane), and 150 x 512 x 512 with 3 labels painted every 5th slice (the example CT's liver,
left kidney and L3 vertebra upsampled in-plane and along the slices), image-aware vs shape only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctlabel.interpolate import interpolate_with_report  # noqa: E402

ANATOMY = ROOT / "tests" / "data" / "anatomy"
SETS = {"example": ANATOMY / "totalseg_example_ct", "cta": ANATOMY / "totalseg_cta_aorta"}

VESSELS = ("aorta", "artery", "vena", "vein")
BONES = ("vertebrae", "rib", "femur", "hip", "sacrum", "scapula", "clavicula", "humerus", "skull")
MUSCLES = ("autochthon", "gluteus", "iliopsoas")
#: Organs at or above this volume (mL) are "large organs", below it "small organs".
LARGE_ML = 100.0
GROUPS = ("large organs", "muscles", "vessels", "bones", "small organs")


def load(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A NIfTI volume as ``(S, A, R)`` (slice, row, column) and its spacing in that order."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    arr = np.asarray(img.dataobj).transpose(2, 1, 0)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return arr, (zooms[2], zooms[1], zooms[0])


def group_of(name: str, ml: float) -> str:
    if any(v in name for v in VESSELS):
        return "vessels"
    if any(b in name for b in BONES):
        return "bones"
    if any(m in name for m in MUSCLES):
        return "muscles"
    return "large organs" if ml >= LARGE_ML else "small organs"


def structures(only: str | None) -> list[tuple[str, str, np.ndarray, np.ndarray, tuple[float, float, float]]]:
    """(set, name, mask, ct, spacing) for every structure of both sets that qualifies."""
    out = []
    for set_name, folder in SETS.items():
        ct, spacing = load(folder / "ct.nii.gz")
        for path in sorted((folder / "masks").glob("*.nii.gz")):
            name = path.name[: -len(".nii.gz")]
            if only and only not in name:
                continue
            mask = load(path)[0] > 0.5
            nz = np.flatnonzero(mask.any(axis=(1, 2)))
            if mask.sum() >= 500 and nz.size >= 6:
                out.append((set_name, name, mask, ct, spacing))
    return out


def painted_slices(mask: np.ndarray, k: int) -> list[int]:
    """Every ``k``-th slice of the structure's extent from its first slice, plus its last."""
    nz = np.flatnonzero(mask.any(axis=(1, 2)))
    zs = list(range(int(nz[0]), int(nz[-1]) + 1, k))
    if zs[-1] != nz[-1]:
        zs.append(int(nz[-1]))
    return zs


def filled_slices(zs: list[int]) -> list[int]:
    s = set(zs)
    return [z for z in range(zs[0], zs[-1]) if z not in s]


def dice(pred: np.ndarray, truth: np.ndarray, slices: list[int]) -> float:
    p, t = pred[slices], truth[slices]
    denom = int(p.sum()) + int(t.sum())
    return 1.0 if denom == 0 else 2.0 * int((p & t).sum()) / denom


sys.path.insert(0, str(Path(__file__).resolve().parent))
from interpolate import itk_available  # noqa: E402  the reference runner of benchmarks/interpolate.py
from interpolate import itk_mci as _itk_mci_all  # noqa: E402


def itk_mci(vol: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """ITK MorphologicalContourInterpolator along numpy axis 0 (ITK axis 2)."""
    return _itk_mci_all(vol, {}, spacing)


# --------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------


def accuracy(only: str | None, mms: list[float], with_itk: bool) -> list[dict]:
    rows = []
    cases = structures(only)
    print(f"{len(cases)} structures (>= 500 voxels, >= 6 axial slices)")
    cols = ("shape", "image", "mci")
    print(
        f"{'set':<8} {'structure':<30} {'mm':>3} {'k':>3} "
        + " ".join(f"{c:>6}" for c in cols)
        + f" {'refined':>8} {'t shape':>8} {'t image':>8}"
    )
    for set_name, name, mask, ct, spacing in cases:
        ml = float(mask.sum() * np.prod(spacing)) / 1000.0
        for mm in mms:
            k = max(1, round(mm / spacing[0]))
            zs = painted_slices(mask, k)
            vol = np.zeros(mask.shape, dtype=np.uint8)
            vol[zs] = mask[zs]
            filled = filled_slices(zs)
            t0 = time.perf_counter()
            shape = interpolate_with_report(vol, {1: zs}, spacing=spacing).labels == 1
            t1 = time.perf_counter()
            res = interpolate_with_report(vol, {1: zs}, spacing=spacing, image=ct)
            t2 = time.perf_counter()
            row = {
                "set": set_name,
                "name": name,
                "group": group_of(name, ml),
                "mm": mm,
                "k": k,
                "shape": dice(shape, mask, filled),
                "image": dice(res.labels == 1, mask, filled),
                "mci": dice(itk_mci(vol, spacing) == 1, mask, filled) if with_itk else float("nan"),
                "refined": len(res.refined.get(1, [])),
                "n_filled": len(filled),
                "t_shape": t1 - t0,
                "t_image": t2 - t1,
            }
            rows.append(row)
            print(
                f"{set_name:<8} {name:<30} {mm:>3g} {k:>3} {row['shape']:>6.3f} {row['image']:>6.3f} {row['mci']:>6.3f}"
                f" {row['refined']:>3}/{len(filled):<4} {row['t_shape']:>7.3f}s {row['t_image']:>7.3f}s",
                flush=True,
            )
    return rows


def summary(rows: list[dict], mms: list[float]) -> None:
    print("\nMean Dice on filled slices per group (shape / image / MCI), markdown:\n")
    print("| group | n | " + " | ".join(f"{mm:g} mm shape / image / MCI" for mm in mms) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in mms) + " |")
    for g in (*GROUPS, "all"):
        cells = []
        n = 0
        for mm in mms:
            sel = [r for r in rows if r["mm"] == mm and (g == "all" or r["group"] == g)]
            n = len(sel)
            if not sel:
                cells.append("")
                continue
            m = {key: np.mean([r[key] for r in sel]) for key in ("shape", "image", "mci")}
            cells.append(f"{m['shape']:.3f} / **{m['image']:.3f}** / {m['mci']:.3f}")
        if n:
            print(f"| {g} | {n} | " + " | ".join(cells) + " |")
    print()
    for mm in mms:
        sel = [r for r in rows if r["mm"] == mm]
        worse = [r for r in sel if r["image"] < r["shape"] - 0.01]
        worst = min(sel, key=lambda r: r["image"] - r["shape"]) if sel else None
        refined = sum(1 for r in sel if r["refined"])
        line = f"{mm:g} mm: {refined}/{len(sel)} structures refined; {len(worse)} more than 0.01 below shape"
        if worst is not None:
            line += f"; worst change {worst['image'] - worst['shape']:+.3f} ({worst['name']})"
        print(line)
    for r in rows:
        if r["set"] == "cta" and r["name"] == "aorta":
            print(
                f"CTA aorta {r['mm']:g} mm: shape {r['shape']:.3f}, image {r['image']:.3f}, MCI {r['mci']:.3f}, "
                f"image - MCI {r['image'] - r['mci']:+.3f}"
            )


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------


def upsample(arr: np.ndarray, shape: tuple[int, int, int], order: int) -> np.ndarray:
    zoom = [n / s for n, s in zip(shape, arr.shape, strict=True)]
    return ndi.zoom(arr, zoom, order=order, grid_mode=True, mode="grid-constant" if order == 0 else "nearest")


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def timing() -> None:
    print("\nTiming (best of 3)")
    ct, sp = load(SETS["cta"] / "ct.nii.gz")
    aorta = load(SETS["cta"] / "masks" / "aorta.nii.gz")[0] > 0
    zs = np.flatnonzero(aorta.any(axis=(1, 2)))
    z0 = int(zs[len(zs) // 2]) - 20
    n = 41
    shape = (n, 512, 512)
    ct41 = upsample(ct[z0 : z0 + n].astype(np.float32), shape, 1).astype(np.int16)
    ao41 = upsample(aorta[z0 : z0 + n].astype(np.float32), shape, 1) > 0.5
    spacing = (sp[0], sp[1] * ct.shape[1] / 512, sp[2] * ct.shape[2] / 512)
    vol = np.zeros(shape, dtype=np.uint8)
    vol[[0, n - 1]] = ao41[[0, n - 1]]
    t_s = best_of(lambda: interpolate_with_report(vol, {1: [0, n - 1]}, spacing=spacing))
    t_i = best_of(lambda: interpolate_with_report(vol, {1: [0, n - 1]}, spacing=spacing, image=ct41))
    res = interpolate_with_report(vol, {1: [0, n - 1]}, spacing=spacing, image=ct41)
    print(
        f"one label, 40-slice gap, 512x512 (CTA aorta upsampled): shape {t_s:.3f} s, image {t_i:.3f} s, "
        f"refinement {t_i - t_s:.3f} s (target <= 1 s); {len(res.refined[1])}/{len(res.filled[1])} slices refined"
    )

    ct, sp = load(SETS["example"] / "ct.nii.gz")
    shape = (150, 512, 512)
    big_ct = upsample(ct.astype(np.float32), shape, 1).astype(np.int16)
    labels = np.zeros(shape, dtype=np.uint8)
    for lab, name in enumerate(("liver", "kidney_left", "vertebrae_L3"), start=1):
        m = load(SETS["example"] / "masks" / f"{name}.nii.gz")[0].astype(np.float32)
        labels[upsample(m, shape, 1) > 0.5] = lab
    spacing = tuple(s * n0 / n1 for s, n0, n1 in zip(sp, ct.shape, shape, strict=True))
    painted = {lab: painted_slices(labels == lab, 5) for lab in (1, 2, 3)}
    vol = np.zeros(shape, dtype=np.uint8)
    for lab, p in painted.items():
        vol[p] = np.where(labels[p] == lab, lab, vol[p])
    t_s = best_of(lambda: interpolate_with_report(vol, painted, spacing=spacing))
    t_i = best_of(lambda: interpolate_with_report(vol, painted, spacing=spacing, image=big_ct))
    res = interpolate_with_report(vol, painted, spacing=spacing, image=big_ct)
    shp = interpolate_with_report(vol, painted, spacing=spacing).labels
    ds = [dice(shp == lab, labels == lab, filled_slices(p)) for lab, p in painted.items()]
    di = [dice(res.labels == lab, labels == lab, filled_slices(p)) for lab, p in painted.items()]
    print(
        f"150x512x512, 3 labels (liver, kidney, L3) painted every 5th slice: shape {t_s:.3f} s, image {t_i:.3f} s, "
        f"refinement {t_i - t_s:.3f} s (target <= 3 s); ratio {t_i / t_s:.1f}x; "
        f"Dice shape {', '.join(f'{d:.3f}' for d in ds)}; image {', '.join(f'{d:.3f}' for d in di)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="only structures whose name contains this")
    parser.add_argument("--mm", type=float, action="append", help="painting interval(s) in mm (default 6, 9, 15)")
    parser.add_argument("--no-itk", action="store_true", help="do not run ITK MCI")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--no-accuracy", action="store_true")
    args = parser.parse_args()
    mms = args.mm or [6.0, 9.0, 15.0]
    with_itk = not args.no_itk and itk_available()
    if not with_itk:
        print("itk-mci not run (pip install itk-morphologicalcontourinterpolation to compare)")
    if not args.no_accuracy:
        rows = accuracy(args.only, mms, with_itk)
        summary(rows, mms)
    if not args.no_timing:
        timing()
    sys.stdout.flush()
    if with_itk:
        os._exit(0)  # ITK's Python wrapping can abort while tearing down at exit


if __name__ == "__main__":
    main()
