"""Crowd quality on a simulated crowd (issue 21): gold, measured accuracy, review policy, fused reads.

The real server (``ctlabel team serve``, SQLite, a subprocess on loopback) is driven through the
real client (``ctlabel.team.Client``) by simulated annotators whose error models are fixed in
``benchmarks/crowd_sim.py``; the cases are cut from the shared TotalSegmentator CT
(``../shared/data/anatomy``; the repository's identical copy in ``tests/data/anatomy`` is read, so
a fresh clone runs it) and the truth is its masks.
Seed 0.

    python benchmarks/crowd.py                 # 30 annotators, 110 cases (10 of them gold references)
    python benchmarks/crowd.py --quick         # 12 annotators, 46 cases: under 3 minutes
    python benchmarks/crowd.py --json out.json

What happens, in order:

1. An expert (not one of the crowd) labels the gold cases with the truth; a reviewer approves
   them; the lead marks them gold (``svc.gold.add``).
2. Calibration: the gold rate is 1, every annotator claims 5 cases and is served 5 gold cases.
   ``rank_spearman``: the rank correlation between each annotator's accuracy estimated by the
   server (``ctlabel.team.accuracy``) and their true accuracy (the mean Dice against the truth of
   what their error model paints on every case, measured here with another seed).
3. Production: gold rate 0.05, the review policy on; the annotators label the other cases;
   reviewers review what the policy sends them (approving a mask whose Dice against the truth is
   >= 0.9, rejecting it otherwise; the annotator reworks it). ``review_saved`` and
   ``escaped_error_rate`` are computed afterwards from the server's database (the cases' states)
   and the case records (the accepted version's mask on disk against the truth).
4. Fusion: a second project with 3 readers per case and STAPLE; ``fusion_gain`` is the mean Dice
   against the truth of the server's fused proposal minus that of the mean single reader, and
   ``fusion_vs_best`` minus that of each case's best reader.
5. The time to score a gold case of 512 x 512 x 300 (``ctlabel.measure.gold_score.score_mask``,
   masks loaded from disk included).

Targets (issue 21): rank_spearman >= 0.9; fusion_gain >= +0.02; fusion_vs_best >= -0.01;
review_saved >= 0.5 with escaped_error_rate <= 0.02; gold scoring < 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGETS = {"rank_spearman": (">=", 0.9), "fusion_gain": (">=", 0.02), "fusion_vs_best": (">=", -0.01),
           "review_saved": (">=", 0.5), "escaped_error_rate": ("<=", 0.02), "gold_score_seconds": ("<", 5.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 annotators, 40 cases + 6 gold")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="write the results here too")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    from crowd_run import run  # after sys.path has this folder


    with tempfile.TemporaryDirectory(prefix="ctlabel-crowd-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = run(work, quick=args.quick, seed=args.seed)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    misses = []
    print(f"{'figure':<24}{'value':>10}  target")
    for key, (op, target) in TARGETS.items():
        value = result.get(key)
        ok = value is not None and {">=": value >= target, "<=": value <= target, "<": value < target}[op]
        if not ok:
            misses.append(key)
        shown = "n/a" if value is None else f"{value:.3f}"
        print(f"{key:<24}{shown:>10}  {op} {target}{'' if ok else '   MISSED'}")
    result["missed"] = misses
    print(json.dumps({k: v for k, v in result.items() if k not in TARGETS}, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
