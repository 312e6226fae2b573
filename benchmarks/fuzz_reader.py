"""Fuzz the DICOM reader: mutated real CT files through find_series and load_series.

Every input runs in a worker process under ``RLIMIT_AS`` = the worker's baseline + 16 x the
input's size + 256 MiB and a 10 s alarm. Outcomes: loaded, a clean ``CtlabelError``, not an
image, an escape (any other exception, MemoryError included), or over 10 s. Targets: 0 escapes,
0 inputs over 10 s.

    python benchmarks/fuzz_reader.py [--inputs 100000] [--small] [--jobs 2] [--show 20]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))
import mutations

TIME_LIMIT_S = 10


class _Slow(Exception):
    pass


def _alarm(signum, frame):
    raise _Slow


def _baseline() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def run_one(case: mutations.Case) -> tuple[str, str]:
    """(outcome, detail) for one case, in this worker."""
    tmp = Path(tempfile.mkdtemp(prefix="ctlabel-fuzz-"))
    try:
        folder = mutations.make_case(case, tmp / "in")
        size = sum(f.stat().st_size for f in folder.iterdir())
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _baseline() + 16 * size + (256 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TIME_LIMIT_S)
        try:
            return mutations.run_case(folder), ""
        except _Slow:
            return "slow", f"{case}"
        except MemoryError:
            return "escape", f"MemoryError {case}"
        except Exception as exc:  # noqa: BLE001 - that is what we count
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            return "escape", f"{type(exc).__name__} at {Path(tb.filename).name}:{tb.lineno}: {exc!s:.120} {case}"
        finally:
            signal.alarm(0)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--small", action="store_true", help="small seeds only (as in CI)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--start", type=int, default=0, help="first case number")
    ap.add_argument("--show", type=int, default=20, help="escapes to list, grouped by kind")
    args = ap.parse_args(argv)
    seeds = mutations.SMALL_SEEDS if args.small else mutations.ALL_SEEDS
    todo = mutations.cases(args.inputs, seeds, args.start)
    counts: collections.Counter = collections.Counter()
    kinds: dict[str, list[str]] = collections.defaultdict(list)
    t0 = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=2000) as pool:
        for outcome, detail in pool.imap_unordered(run_one, todo, chunksize=20):
            counts[outcome] += 1
            if detail:
                kinds[detail.split(" at ")[0] + " at " + detail.split(" at ")[1].split(":")[0]
                      if " at " in detail else outcome].append(detail)
    dt = time.perf_counter() - t0
    print(f"{len(todo)} inputs from {len(seeds)} seeds in {dt:.0f} s ({len(todo) / dt:.0f}/s)")
    print(f"{'outcome':<22}{'count':>8}")
    for name in ("loaded", "error", "not_image", "escape", "slow"):
        print(f"{name:<22}{counts[name]:>8}")
    if kinds:
        print("\nescapes and slow inputs by kind:")
        for k, v in sorted(kinds.items(), key=lambda kv: -len(kv[1]))[: args.show]:
            print(f"{len(v):>6}  {k}\n        e.g. {v[0]}")
    ok = counts["escape"] == 0 and counts["slow"] == 0
    print("\ntarget (0 escapes, 0 over 10 s):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
