"""Benchmark of :mod:`ctlabel.prelabel`: time and peak memory on a 512 x 512 x 300 CT.

Run from the repository root::

    python benchmarks/prelabel.py             # 512 x 512 x 300, 3 repeats
    python benchmarks/prelabel.py --quick     # 512 x 512 x 100, 1 repeat
    python benchmarks/prelabel.py --check     # exit 1 when a target fails

The volume is the real abdominal CT of ``tests/data/anatomy/totalseg_example_ct``
(TotalSegmentator's example, 3 mm isotropic, with its CT table) resampled by linear
interpolation to 300 slices of 512 x 512 (0.72 x 0.59 mm in-plane, 1.12 mm slices), with
Gaussian noise of 15 HU, int16 HU: the size and the HU of a thin-slice body CT.

Each repeat runs in a fresh process: it builds the volume, takes its RSS, resets the kernel's
peak RSS counter (``/proc/self/clear_refs``), runs :func:`ctlabel.prelabel.prelabel_volume`
for body, lungs (left/right), bone and air into a uint8 label volume, and reads the peak
(``VmHWM``). Reported: wall time, peak RSS of the whole process / volume bytes (the volume
itself and the interpreter included) and the peak increase over the RSS before the call /
volume bytes, with the wall and the CPU time (single-threaded: on a shared machine the wall
time exceeds the CPU time). Targets: <= 5 s and whole-process peak <= 3 x the volume.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CT = ROOT / "tests" / "data" / "anatomy" / "totalseg_example_ct" / "ct.nii.gz"  # as in ../shared/data/anatomy
TARGET_S, TARGET_X = 5.0, 3.0


def _status(key: str) -> int:
    """A ``/proc/self/status`` value in bytes (VmRSS, VmHWM)."""
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def make_volume(slices: int, noise_hu: float = 15.0):
    """The real 3 mm CT resampled to ``slices`` x 512 x 512 int16 HU, with its spacing."""
    import numpy as np
    from scipy import ndimage as ndi

    sys.path.insert(0, str(ROOT))
    from ctlabel import load_image

    vol = load_image(CT)
    src = vol.array.astype(np.float32)
    shape = (slices, 512, 512)
    zoom = [n / s for n, s in zip(shape, src.shape, strict=True)]
    out = ndi.zoom(src, zoom, output=np.int16, order=1, grid_mode=True, mode="nearest")
    rng = np.random.default_rng(0)
    for z in range(0, slices, 16):  # noise slab by slab: no float copy of the volume
        part = out[z:z + 16]
        part += rng.normal(0.0, noise_hu, part.shape).astype(np.int16)
    spacing = tuple(float(sp) / zm for sp, zm in zip(vol.spacing, zoom, strict=True))
    return out, spacing


def run_once(slices: int) -> dict:
    """Build the volume, then pre-label it with the peak RSS counter reset: one measurement."""
    import gc

    import numpy as np

    from ctlabel.prelabel.run import prelabel_volume

    hu, spacing = make_volume(slices)
    gc.collect()
    before = _status("VmRSS")
    reset = True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        reset = False
    targets = {"lungs": (3, 4), "air": (6,), "bone": (5,), "body": (2,)}
    t0, c0 = time.perf_counter(), time.process_time()
    labels = np.zeros(hu.shape, np.uint8)
    written = prelabel_volume(hu, spacing, targets, labels, left_is_high_column=True)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _status("VmHWM")
    counts = {int(v): int(np.count_nonzero(labels == v)) for v in written}
    return {"shape": list(hu.shape), "spacing": [round(s, 3) for s in spacing], "volume_bytes": hu.nbytes,
            "seconds": seconds, "cpu_seconds": cpu, "peak_rss": peak, "rss_before": before, "peak_reset": reset,
            "voxels": counts}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="100 slices, 1 repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(run_once(args.child)))
        return 0
    slices, repeats = (100, 1) if args.quick else (300, args.repeats)
    runs = []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, __file__, "--child", str(slices)], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 2
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    first = runs[0]
    vb = first["volume_bytes"]
    sec = statistics.median(x["seconds"] for x in runs)
    cpu = statistics.median(x["cpu_seconds"] for x in runs)
    whole = statistics.median(x["peak_rss"] for x in runs) / vb
    extra = statistics.median(x["peak_rss"] - x["rss_before"] for x in runs) / vb
    load = os.getloadavg()[0]
    print(f"volume {'x'.join(map(str, first['shape']))} int16 ({vb / 2**20:.0f} MiB), spacing "
          f"{'x'.join(map(str, first['spacing']))} mm; {repeats} run(s), load average {load:.1f}")
    print(f"  time      {sec:6.2f} s   (target <= {TARGET_S:g} s; runs: "
          + ", ".join(f"{x['seconds']:.2f}" for x in runs) + ")")
    print(f"  CPU time  {cpu:6.2f} s   (one thread; wall time exceeds it when the machine is shared)")
    print(f"  peak RSS  {whole:6.2f} x volume, whole process (target <= {TARGET_X:g} x); "
          f"{extra:.2f} x above the RSS before the call"
          + ("" if first["peak_reset"] else "  [peak counter not resettable: includes building the volume]"))
    print("  voxels    " + ", ".join(f"{k}: {v}" for k, v in first["voxels"].items()))
    ok = sec <= TARGET_S and whole <= TARGET_X
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
