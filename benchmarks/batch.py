"""Benchmark of a conversion batch: the local process pool against a 2-worker Dask cluster.

Run from the repository root (needs ``pip install -e '.[cluster]'``)::

    python benchmarks/batch.py               # 8 series, 2 repeats, about 2 minutes on 2 cores
    python benchmarks/batch.py --series 4 --repeats 1
    python benchmarks/batch.py --json out.json

Input: copies of the real 140-slice Philips head CT
(``dcmqa_ct_philips_brain/dicom/S21570/S2020``, 72 MB of uncompressed DICOM each; from
``../shared/data/ct`` when it is there, else the repository's copy decompressed, see
``benchmarks/convert.py``) written with new study, series and instance UIDs, one folder each, cached in
``benchmarks/.cache/jobs_philips_<i>`` (shared with ``benchmarks/convert.py``).

What it measures (median of the repeats, page cache warm, round robin):

* ``local``: ``ctlabel.convert(..., jobs=2)``, two forked single-threaded workers;
* ``dask``: ``ctlabel.convert(..., scheduler=ADDRESS)`` on a ``LocalCluster`` of two
  single-threaded worker processes on 127.0.0.1 (started once, not timed in the batch);
* ``scan``: the header scan alone (``find_series``, ``jobs=2``), which runs on the client;
* ``one``: one series converted in this process on one core: the per-series cost;
* ``gzip``: writing that series' ``ct.nii.gz`` alone (one thread): gzip's share of it;
* ``noop``: 400 empty tasks, each carrying one series' ``Stack``, through the Dask
  executor: the scheduler's round trip per task without any work.

Then bytes: what a task pickles (the ``Stack``: paths and header values) and what comes
back (the report entry), against what a worker reads (DICOM) and writes (``ct.nii.gz`` and
sidecars) on the shared file system. The projection to 100,000 series on 50 workers uses
these measured numbers and the assumed shared file system bandwidth (``--fs-gbit``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from convert import CACHE, copy_philips, warm  # noqa: E402 - the sibling benchmark's cached copies

MB = 1e6
#: The scheduler's HTTP server runs even with dashboard_address=None (on 8787): keep it on
#: loopback, on a free port, so that parallel runs do not collide.
DASHBOARD = "127.0.0.1:0"


def _noop(stack) -> int:
    return len(stack.slices)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(n: int, repeats: int, verbose: bool) -> dict:
    import distributed

    from ctlabel.dicom.read import load_series
    from ctlabel.dicom.scan import find_series
    from ctlabel.intake.batch import executor
    from ctlabel.intake.convert import ConvertOptions, convert
    from ctlabel.io.nifti import write_nifti

    folders = []
    for i in range(n):
        copy_philips(CACHE / f"jobs_philips_{i}", i)
        folders.append(CACHE / f"jobs_philips_{i}" / "dicom")
    in_bytes = sum(folder_bytes(f) for f in folders)
    for f in folders:
        warm(f)
    out = CACHE / "batch_out"

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=DASHBOARD)
    startup = time.perf_counter() - t0
    address = cluster.scheduler_address
    times: dict[str, list[float]] = {"local": [], "dask": [], "scan": []}
    reports = {}
    try:
        for r in range(repeats):
            for how in ("local", "dask"):
                shutil.rmtree(out, ignore_errors=True)
                kwargs = {"jobs": 2} if how == "local" else {"scheduler": address}
                dt, rep = timed(lambda kw=kwargs: convert(folders, out, progress=False, **kw))
                assert rep.ok and len(rep.converted) == n, rep.summary_text()
                times[how].append(dt)
                reports[how] = rep
                if verbose:
                    print(f"  repeat {r}: {how} {dt:.2f} s", file=sys.stderr)
            dt, scan = timed(lambda: find_series(*folders, jobs=2))
            times["scan"].append(dt)
        out_bytes = folder_bytes(out)
        stacks = scan.stacks
        task_bytes = [len(pickle.dumps((s, out, ConvertOptions(), "name", "create"))) for s in stacks]
        result_bytes = [len(pickle.dumps(("converted", e))) for e in reports["dask"].converted]
        with executor(1, address) as pool:
            list(pool.map(_noop, stacks[:1] * 20))  # warm the workers
            noop, _ = timed(lambda: list(pool.map(_noop, stacks[:1] * 400)))
    finally:
        cluster.close()
        shutil.rmtree(out, ignore_errors=True)

    from ctlabel.intake.batch import single_threaded

    with single_threaded():
        one, _ = timed(lambda: convert(folders[:1], out, jobs=1, progress=False))
        volume = load_series(stacks[0])
        gz, _ = timed(lambda: write_nifti(out / "gz.nii.gz", volume.array, volume.affine))
    shutil.rmtree(out, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"series": n, "repeats": repeats, "cluster_startup_s": startup, **{f"{k}_s": v for k, v in med.items()},
            "one_series_s": one, "gzip_one_series_s": gz, "noop_task_s": noop / 400,
            "in_bytes_per_series": in_bytes / n, "out_bytes_per_series": out_bytes / n,
            "task_bytes_per_series": statistics.mean(task_bytes),
            "result_bytes_per_series": statistics.mean(result_bytes),
            "slices_per_series": statistics.mean(len(s.slices) for s in stacks),
            "load_average": os.getloadavg()[0]}


def project(m: dict, total: int, workers: int, fs_gbit: float, client_jobs: int) -> dict:
    """100,000 series on 50 workers, on paper, from the measured per-series numbers."""
    per_series = m["one_series_s"]  # core-seconds of one series on an unshared core
    busy = m["dask_s"] * 2 / m["series"]  # the same from the 2-worker batch on this shared machine
    compute = total * per_series / workers
    scan = total * (m["scan_s"] / m["series"]) * 2 / client_jobs  # measured with 2 scan processes
    moved = total * (m["in_bytes_per_series"] + m["out_bytes_per_series"])
    fs = moved / (fs_gbit * 1e9 / 8)
    sched = total * (m["task_bytes_per_series"] + m["result_bytes_per_series"])
    scheduler_cpu = total * m["noop_task_s"]  # one scheduler's task throughput, as measured: an upper bound
    limits = {"worker CPU (read + hash + gzip)": compute, "header scan on the client": scan,
              f"shared file system at {fs_gbit:g} Gbit/s": fs, "scheduler": scheduler_cpu}
    return {"total_s": scan + max(compute, fs, scheduler_cpu),
            "per_series_core_s": per_series, "per_series_busy_core_s": busy, "compute_busy_s": total * busy / workers,
            "compute_s": compute, "scan_s": scan, "fs_s": fs,
            "scheduler_s": scheduler_cpu, "bytes_moved": moved, "scheduler_bytes": sched,
            "limit": max(limits, key=limits.get), "limits": limits,
            "fs_needed_gbit": moved * 8 / 1e9 / compute}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--total", type=int, default=100_000, help="series of the projection")
    ap.add_argument("--workers", type=int, default=50, help="single-core workers of the projection")
    ap.add_argument("--fs-gbit", type=float, default=10.0, help="shared file system bandwidth of the projection")
    ap.add_argument("--client-jobs", type=int, default=16, help="header scan processes on the client")
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    m = measure(args.series, args.repeats, args.verbose)
    p = project(m, args.total, args.workers, args.fs_gbit, args.client_jobs)
    n = m["series"]
    mb_in = m["in_bytes_per_series"] / MB
    print(f"{n} series of {m['slices_per_series']:.0f} slices ({mb_in:.0f} MB DICOM each), 2 single-threaded "
          f"workers, median of {m['repeats']}; load average {m['load_average']:.1f}")
    for how in ("local", "dask"):
        t = m[f"{how}_s"]
        print(f"  {how:<6} {t:6.2f} s  {n / t:5.2f} series/s  {n * mb_in / t:6.1f} MB/s DICOM in")
    print(f"  cluster start-up {m['cluster_startup_s']:.2f} s (once, not in the batch)")
    print(f"  scheduler overhead per series: {(m['dask_s'] - m['local_s']) / n * 1000:+.0f} ms against the local "
          f"pool; an empty task's round trip {m['noop_task_s'] * 1000:.1f} ms")
    print(f"  one series on one core {m['one_series_s']:.2f} s, of which gzip {m['gzip_one_series_s']:.2f} s; "
          f"header scan {m['scan_s'] / n * 1000:.0f} ms per series (2 processes, client side)")
    print(f"  bytes per series: task {m['task_bytes_per_series'] / 1e3:.1f} kB and result "
          f"{m['result_bytes_per_series'] / 1e3:.1f} kB through the scheduler; the worker reads {mb_in:.0f} MB and "
          f"writes {m['out_bytes_per_series'] / MB:.0f} MB on the shared file system")
    h = 3600
    print(f"\n{args.total:,} series on {args.workers} workers, on paper:")
    print(f"  worker CPU      {p['compute_s'] / h:6.2f} h  ({p['per_series_core_s']:.2f} core-s per series; "
          f"{p['compute_busy_s'] / h:.2f} h at the {p['per_series_busy_core_s']:.2f} core-s of the batch here, "
          "on a shared machine)")
    print(f"  header scan     {p['scan_s'] / h:6.2f} h  (client, {args.client_jobs} processes; "
          "more on a shared file system: metadata latency)")
    print(f"  file system     {p['fs_s'] / h:6.2f} h  ({p['bytes_moved'] / 1e12:.1f} TB at {args.fs_gbit:g} Gbit/s; "
          f"the workers would need {p['fs_needed_gbit']:.1f} Gbit/s to be CPU-bound)")
    print(f"  scheduler       {p['scheduler_s'] / h:6.2f} h  (empty-task throughput; "
          f"{p['scheduler_bytes'] / 1e9:.2f} GB of tasks and results)")
    print(f"  total           {p['total_s'] / h:6.2f} h  (the scan first, then the rest overlapped)")
    print(f"  limit: {p['limit']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"measured": m, "projection": p}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
