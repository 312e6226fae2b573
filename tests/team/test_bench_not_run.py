"""benchmarks/team.py reports the planned steps a short --duration left no time for (it reported 0 errors)."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_team", ROOT / "benchmarks" / "team.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Server:
    """Answers as the team server would: a case for ``next`` (or 409), an ETag for uploads, 200 otherwise."""

    def __init__(self, claim_status: int = 200) -> None:
        self.claim_status = claim_status
        self.calls: list[str] = []

    async def request(self, method: str, path: str, **_kw) -> httpx.Response:
        self.calls.append(f"{method} {path}")
        status = self.claim_status if path == "/cases/next" else 200
        return httpx.Response(status, json={"case": "c1", "etag": "e1"}, request=httpx.Request(method, "http://x"))


def _run(bench, server: _Server, stop_in: float) -> tuple[dict, dict]:
    args = SimpleNamespace(think=0.0, uploads=2, beats=3, image=False)
    stats: dict = {}
    not_run: dict = {}
    asyncio.run(bench.annotator(server, "tok", b"mask", args, stats, time.monotonic() + stop_in, not_run))
    return stats, {k: v for k, v in not_run.items() if v}


def test_a_short_duration_is_reported_as_not_run():
    bench = _bench()
    # time enough: everything runs, nothing is reported
    stats, missed = _run(bench, _Server(), stop_in=60)
    assert missed == {} and stats["submit"]["errors"] == 0 and len(stats["heartbeat"]["lat"]) == 6
    # the duration is over after the claim: every heartbeat, upload and the submit are reported as not run
    server = _Server()
    stats, missed = _run(bench, server, stop_in=-1)
    assert missed == {"heartbeat": 6, "upload": 2, "submit": 1}
    assert "submit" not in stats and all(s["errors"] == 0 for s in stats.values())  # what the old report showed
    assert server.calls == ["POST /cases/next", "GET /cases/c1/files/labels.tsv", "GET /cases/c1/files/ct.json"]
    # no case claimed: the claim and all after it
    _, missed = _run(bench, _Server(claim_status=409), stop_in=60)
    assert missed == {"claim": 1, "heartbeat": 6, "upload": 2, "submit": 1}
    assert bench.plan(SimpleNamespace(uploads=2, beats=3)) == {"heartbeat": 6, "upload": 2, "submit": 1}
