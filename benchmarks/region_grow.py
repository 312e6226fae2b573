"""Benchmark of the default region grow (issue 19 item 4: a grow that stays in its organ).

Run from the repository root::

    python benchmarks/region_grow.py                # the table (about 10 s)
    python benchmarks/region_grow.py --json out.json

Data: TotalSegmentator's example CT with its masks (non-contrast abdomen, resampled to 3 mm,
122 x 101 x 112), read from ``../shared/data/anatomy/totalseg_example_ct`` (beside the
repository) or, if absent, from the repository's copy ``tests/data/anatomy/totalseg_example_ct``.
Elsewhere: github.com/wasserth/TotalSegmentator, ``tests/reference_files/example_ct_sm.nii.gz``
and its segmentations, laid out as ``ct.nii.gz`` and ``masks/<organ>.nii.gz``. The CT and the
masks are brought to RAS with nibabel (``as_closest_canonical``) and transposed to
``(S, A, R)``, so axis 0 is the axial axis whatever the file's own axis order; the script
prints the file's axis codes and checks that the CT and the masks share one affine.

Clicks: for each of liver, spleen, kidney_left, kidney_right and aorta, 20 points drawn at
random (``numpy.random.default_rng(0)``, ``--seed`` for another draw) among the mask's voxels at least 10 mm from the
mask's edge on their own axial slice (2-D Euclidean distance transform in mm). Each click is
grown in 2-D on its slice with ``ctlabel.region_grow``'s defaults (no tolerance: the range from
the click's neighbourhood, cut at thin bridges) and, in the same run, with the old default
(a fixed ± 100 HU around the 5 x 5 mean). Per organ: the median and worst Dice against the mask
on that slice, and the largest grown area / the organ's area on that slice. Targets: median
Dice >= 0.85 for every organ, no grow larger than 2 x the organ's area on its slice.

Then the demo CT (``sample_data/totalseg_body_ct``, contrast, 512 x 512): the click in the
spleen that flooded (slice 10, row 340, column 350), voxels grown with both methods.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctlabel.painting.region_grow import region_grow  # noqa: E402

CANDIDATES = (ROOT / ".." / "shared" / "data" / "anatomy" / "totalseg_example_ct",
              ROOT / "tests" / "data" / "anatomy" / "totalseg_example_ct")
ORGANS = ("liver", "spleen", "kidney_left", "kidney_right", "aorta")
DEMO = ROOT / "sample_data" / "totalseg_body_ct" / "dicom"
DEMO_SPLEEN = (10, 340, 350)
CLICKS, DEPTH_MM, OLD_TOLERANCE = 20, 10.0, 100.0
TARGET_DICE, TARGET_RATIO = 0.85, 2.0


def find_data() -> Path:
    for folder in CANDIDATES:
        if (folder / "ct.nii.gz").is_file():
            return folder.resolve()
    sys.exit("error: no totalseg_example_ct: looked in " + ", ".join(str(c) for c in CANDIDATES)
             + " (see this script's docstring for where to get it)")


def load_sar(path: Path):
    """A NIfTI volume as ``(S, A, R)`` (axis 0 axial), its spacing in that order, its affine and axis codes."""
    import nibabel as nib

    img = nib.load(path)
    codes = "".join(nib.aff2axcodes(img.affine))
    canon = nib.as_closest_canonical(img)
    data = np.asarray(canon.dataobj).T
    spacing = tuple(float(z) for z in canon.header.get_zooms()[:3][::-1])
    return data, spacing, canon.affine, codes


def clicks_in(mask: np.ndarray, spacing, rng) -> list[tuple[int, int, int]]:
    """``CLICKS`` voxels drawn at random among those ``DEPTH_MM`` or deeper inside ``mask`` on their slice."""
    candidates = []
    for z in np.flatnonzero(mask.any(axis=(1, 2))):
        depth = ndi.distance_transform_edt(mask[z], sampling=spacing[1:])
        candidates.extend((int(z), int(r), int(c)) for r, c in np.argwhere(depth >= DEPTH_MM))
    if not candidates:
        return []
    picked = rng.choice(len(candidates), size=min(CLICKS, len(candidates)), replace=False)
    return [candidates[i] for i in picked]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))


def measure(hu, spacing, mask, clicks, tolerance):
    dices, ratios, times = [], [], []
    for z, r, c in clicks:
        t0 = time.perf_counter()
        grown = region_grow(hu, (z, r, c), tolerance, spacing=spacing)
        times.append(time.perf_counter() - t0)
        dices.append(dice(grown[z], mask[z]))
        ratios.append(np.count_nonzero(grown) / np.count_nonzero(mask[z]))
    return {"median_dice": float(np.median(dices)), "worst_dice": float(np.min(dices)),
            "max_area_ratio": float(np.max(ratios)), "median_ms": 1000 * float(np.median(times)),
            "dice": [round(d, 4) for d in dices], "area_ratio": [round(x, 3) for x in ratios]}


def demo_check() -> dict:
    from ctlabel.dicom.read import load_series

    demo = load_series(DEMO)
    new = region_grow(demo.array, DEMO_SPLEEN, spacing=demo.spacing)
    old = region_grow(demo.array, DEMO_SPLEEN, OLD_TOLERANCE, spacing=demo.spacing)
    px_cm2 = demo.spacing[1] * demo.spacing[2] / 100
    cols = np.flatnonzero(new[DEMO_SPLEEN[0]].any(axis=0))
    return {"seed": DEMO_SPLEEN, "new_voxels": int(new.sum()), "old_voxels": int(old.sum()),
            "new_cm2": round(float(new.sum()) * px_cm2, 1), "old_cm2": round(float(old.sum()) * px_cm2, 1),
            "new_stays_on_the_spleen_side": bool(cols.size and cols.min() > demo.array.shape[2] // 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--seed", type=int, default=0, help="the clicks' random seed (default 0)")
    args = ap.parse_args(argv)
    folder = find_data()
    hu, spacing, affine, codes = load_sar(folder / "ct.nii.gz")
    print(f"data: {folder}\nCT {hu.shape} (S, A, R) from axis codes {codes}, spacing {spacing} mm; axis 0 is axial")
    rng = np.random.default_rng(args.seed)
    rows, report = [], {"data": str(folder), "seed": args.seed, "axis_codes": codes, "shape_sar": list(hu.shape),
                        "spacing_sar": list(spacing), "organs": {}}
    for organ in ORGANS:
        mask, _, m_affine, _ = load_sar(folder / "masks" / f"{organ}.nii.gz")
        if mask.shape != hu.shape or not np.allclose(m_affine, affine, atol=1e-3):
            sys.exit(f"error: {organ}: the mask's grid is not the CT's")
        mask = mask > 0.5
        clicks = clicks_in(mask, spacing, rng)
        new = measure(hu, spacing, mask, clicks, None)
        old = measure(hu, spacing, mask, clicks, OLD_TOLERANCE)
        report["organs"][organ] = {"clicks": clicks, "new": new, "old": old}
        rows.append((organ, len(clicks), new, old))
    print(f"\n{'organ':13s} {'n':>3s} | {'new: median':>11s} {'worst':>6s} {'max area':>8s} {'ms':>5s} |"
          f" {'old: median':>11s} {'worst':>6s} {'max area':>8s} {'ms':>5s} | {'median ratio':>12s}")
    for organ, n, new, old in rows:
        print(f"{organ:13s} {n:3d} | {new['median_dice']:11.3f} {new['worst_dice']:6.3f} "
              f"{new['max_area_ratio']:7.2f}x {new['median_ms']:5.0f} | {old['median_dice']:11.3f} "
              f"{old['worst_dice']:6.3f} {old['max_area_ratio']:7.2f}x {old['median_ms']:5.0f} | "
              f"{new['median_dice'] / max(old['median_dice'], 1e-9):11.1f}x")
    fails = [o for o, _, new, _ in rows if new["median_dice"] < TARGET_DICE or new["max_area_ratio"] > TARGET_RATIO]
    print(f"\ntargets (median Dice >= {TARGET_DICE}, area <= {TARGET_RATIO} x the organ's on its slice): "
          + ("met for every organ" if not fails else "NOT met for " + ", ".join(fails)))
    report["targets_missed"] = fails
    if DEMO.is_dir():
        report["demo_ct"] = demo = demo_check()
        print(f"demo CT spleen click {demo['seed']}: new {demo['new_voxels']} voxels ({demo['new_cm2']} cm²), "
              f"old {demo['old_voxels']} ({demo['old_cm2']} cm²); new stays on the spleen's side: "
              f"{demo['new_stays_on_the_spleen_side']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=int))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
