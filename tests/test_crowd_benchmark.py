"""``benchmarks/crowd.py --quick``: the simulated crowd through the real server and client (issue 21).

The figures are the benchmark's to report (the closing notes give them); the test checks that the
run completes in a fresh clone and that each figure is measured, not that every target is met. It
fails when a part of the chain breaks: gold never scored, accuracy that does not rank the crowd at
all, no case fused, a policy that accepts what it should not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_crowd_benchmark_measures_every_figure(tmp_path):
    out = tmp_path / "crowd.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "crowd.py"), "--quick", "--json", str(out),
                        "--keep", str(tmp_path / "work")], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.exists(), r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["gold_scored"] == 5 * res["annotators"]  # every calibration claim served and scored a gold case
    assert res["rank_spearman"] > 0.6  # the server's estimates rank careful above bad annotators
    est = res["accuracy"]
    careful = [v["estimated"] for k, v in est.items() if k.endswith("careful")]
    sloppy = [v["estimated"] for k, v in est.items() if k.endswith("sloppy")]
    assert min(careful) > max(sloppy)
    fusion = res["fusion"]
    assert fusion["cases_read_three_times"] >= 5 and fusion["fusion_gain"] > 0
    figures = res["policy_figures"]
    assert figures["production_cases"] >= res["cases"] - 2
    if figures["accepted_by_policy"]:  # the server's draws are not seeded: how many is the benchmark's figure
        assert figures["escaped_error_rate"] <= 0.25
    accepted_kinds = {k for k, v in figures["by_kind"].items() if v["accepted"]}
    assert accepted_kinds <= {"careful", "average"}, figures["by_kind"]  # never a sloppy or bad annotator's case
    assert 0 < res["gold_score_seconds"] < 60
