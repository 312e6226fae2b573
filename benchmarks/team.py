"""Load test of the team server: many simulated annotators from one asyncio process (httpx, loopback).

Each simulated annotator claims a case (``POST /cases/next``), downloads ``labels.tsv``,
``ct.json`` and (with ``--image``) the CT, then for a while sends heartbeats with think time
between them, uploads its draft (If-Match) and finally submits it (QA runs on the server).
Reported per endpoint: count, errors, p50/p95/p99 latency; overall ops/s; the server's peak
RSS (polled with psutil). Runs on SQLite and on a throwaway PostgreSQL (``--db both``).
What the annotators did not get to do before ``--duration`` ran out (or without a case) is
reported as ``not_run`` and makes the exit status 1: a run too short to submit is not a run
without errors.

    python benchmarks/team.py                       # 300 annotators, 240 s, SQLite and PostgreSQL (~13 min)
    python benchmarks/team.py --annotators 50 --duration 20 --think 2 --db sqlite
    python benchmarks/team.py --json results.json
    python benchmarks/team.py --db sqlite --duration 90 --gold-rates 0,0.05   # p95 with and without gold cases

With ``--gold-rates``, each rate is a run of its own; above 0, ``--gold-cases`` cases are first
approved and made gold (an expert's mask), so that claims are served gold cases at that rate and
their submits are scored in the server: the p95 of each endpoint is printed as a ratio to the run
without gold.

The cases are copies of the 5 mm Philips head CT (28 x 512 x 512; the image is hard-linked),
so the machine needs ~1 MB of disk per case. The machine is shared with other work: the
1-min load average is printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "team"))


def _copy_case(template: Path, dest: Path) -> None:
    def link_or_copy(src, dst):
        if Path(src).name == "ct.nii.gz":
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(template, dest, copy_function=link_or_copy)


def prepare(workdir: Path, url: str | None, n: int, template: Path, n_reviewers: int = 0):
    from ctlabel.team import admin

    svc = admin.init_project(workdir / "project", url=url, open_limit=1)
    for i in range(n):
        dest = svc.cases_dir / f"bench_{i:04d}"
        _copy_case(template, dest)
        admin.register_case(svc, dest)
    tokens = [admin.add_user(svc, f"a{i:04d}", "annotator") for i in range(n)]
    reviewers = [admin.add_user(svc, f"r{i:03d}", "reviewer") for i in range(n_reviewers)]
    return svc, tokens, reviewers


def make_gold(svc, n: int, body: bytes, tmp: Path, rate: float) -> list[str]:
    """``n`` approved cases made gold (an expert's mask, approved), and the gold rate set."""
    from sqlalchemy import select

    from ctlabel.team import admin, uploads
    from ctlabel.team.db import User

    admin.add_user(svc, "expert", "annotator")
    admin.add_user(svc, "gold-reviewer", "reviewer")
    with svc.read() as db:
        expert, rev = (db.scalar(select(User).where(User.name == n_)) for n_ in ("expert", "gold-reviewer"))
        db.expunge_all()
    names = []
    for i in range(n):
        info = svc.claims.claim_next(expert)
        f = tmp / f"gold{i}.nii.gz"
        f.write_bytes(body)
        uploads.store_upload(svc, expert, info["case"], f, info["etag"])
        svc.claims.submit(expert, info["case"], force=True)
        svc.reviews.review_next(rev)
        svc.reviews.approve(rev, info["case"])
        names.append(info["case"])
    svc.gold.add(names, by="lead (benchmark)")
    svc.gold.set_rate(rate)
    return names


def raw_mask(template: Path, body: bytes) -> bytes:
    """The uploaded mask, uncompressed (a large upload: 28 x 512 x 512 bytes and the header)."""
    import gzip

    return gzip.decompress(body)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def caller(client, token: str, stats: dict):
    """``await call(name, method, path, **kw)``: one request, timed and counted under ``name``.

    ``expected``: statuses that are answers, not errors (a reviewer's 404 when nothing waits).
    """
    import httpx

    headers = {"Authorization": f"Bearer {token}"}

    async def call(name: str, method: str, path: str, expected: tuple[int, ...] = (), **kw):
        t = time.perf_counter()
        try:
            r = await client.request(method, path, headers={**headers, **kw.pop("headers", {})}, **kw)
            ok = r.status_code < 400 or r.status_code in expected
        except httpx.HTTPError:
            r, ok = None, False
        stats.setdefault(name, {"lat": [], "errors": 0, "bytes": 0})
        stats[name]["lat"].append(time.perf_counter() - t)
        stats[name]["bytes"] += len(kw.get("content") or b"") + (len(r.content) if r is not None else 0)
        if not ok:
            stats[name]["errors"] += 1
        return r

    return call


async def reviewer(client, token: str, args, stats: dict, stop_at: float) -> None:
    """Take the oldest submitted case, fetch its mask, look at it, approve it (1 in 5: reject with a mark)."""
    call = caller(client, token, stats)
    await asyncio.sleep(random.uniform(0, args.think))
    while time.monotonic() < stop_at:
        r = await call("review-next", "POST", "/review/next", expected=(404,))
        if r is None or r.status_code != 200:
            await asyncio.sleep(random.uniform(0.25, 0.75) * args.think)  # nothing waits yet
            continue
        case = r.json()["case"]
        await call("download draft", "GET", f"/cases/{case}/files/draft")
        await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)
        if random.random() < 0.2:
            await call("reject", "POST", f"/cases/{case}/reject",
                       json={"comment": "the left side is missing", "marks": [{"slice": 12, "label": 1}]})
        else:
            await call("approve", "POST", f"/cases/{case}/approve", json={"comment": "ok"})


def plan(args) -> dict[str, int]:
    """The steps an annotator runs after its claim: ``--uploads`` x (``--beats`` heartbeats, an upload), a submit."""
    return {"heartbeat": args.uploads * args.beats, "upload": args.uploads, "submit": 1}


async def annotator(client, token: str, body: bytes, args, stats: dict, stop_at: float,
                    not_run: dict | None = None) -> None:
    """Claim a case, fetch its small files, upload the draft twice with heartbeats between, submit.

    ``not_run`` counts the planned steps (:func:`plan`) skipped because ``stop_at`` came first, and
    ``"claim"`` when no case was claimed (everything after it is skipped too).
    """
    call = caller(client, token, stats)
    left = plan(args)
    missed = not_run if not_run is not None else {}

    def skip(*extra: str) -> None:
        for step in extra:
            missed[step] = missed.get(step, 0) + 1
        for step, n in left.items():
            missed[step] = missed.get(step, 0) + n

    await asyncio.sleep(random.uniform(0, args.think))  # do not all start in the same millisecond
    r = await call("next", "POST", "/cases/next")
    if r is None or r.status_code != 200:
        skip("claim")
        return
    case = r.json()["case"]
    etag = r.json()["etag"]
    for f in ("labels.tsv", "ct.json") + (("ct.nii.gz",) if args.image else ()):
        await call(f"download {f}", "GET", f"/cases/{case}/files/{f}")
    for _ in range(args.uploads):
        for _ in range(args.beats):
            if time.monotonic() > stop_at:
                skip()
                return
            await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)
            await call("heartbeat", "POST", f"/cases/{case}/heartbeat")
            left["heartbeat"] -= 1
        r = await call("upload", "PUT", f"/cases/{case}/draft", content=body,
                       headers={"If-Match": f'"{etag}"', "Content-Type": "application/octet-stream"})
        left["upload"] -= 1
        if r is not None and r.status_code == 200:
            etag = r.json()["etag"]
    if time.monotonic() < stop_at:
        await call("submit", "POST", f"/cases/{case}/submit", json={"force": True})
        left["submit"] -= 1
    skip()


async def drive(url: str, tokens: list[str], reviewers: list[str], body: bytes, args) -> tuple[dict, float, dict]:
    import httpx

    n = len(tokens) + len(reviewers) + 10
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    stats: dict = {}
    not_run: dict = {}
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=300, limits=limits) as client:
        t0 = time.perf_counter()
        stop_at = time.monotonic() + args.duration
        await asyncio.gather(*(annotator(client, t, body, args, stats, stop_at, not_run) for t in tokens),
                             *(reviewer(client, t, args, stats, stop_at) for t in reviewers))
        return stats, time.perf_counter() - t0, {k: v for k, v in sorted(not_run.items()) if v}


def loopback_mb_s(total: int = 512 * 2**20, chunk: int = 2**20) -> float:
    """What loopback TCP carries on this machine now: one connection, ``total`` bytes, MB/s."""
    import socket

    srv = socket.create_server(("127.0.0.1", 0))
    got = [0]

    def sink() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(chunk):
                got[0] += len(data)

    th = threading.Thread(target=sink)
    th.start()
    buf = b"\0" * chunk
    t = time.perf_counter()
    with socket.create_connection(srv.getsockname()) as c:
        for _ in range(total // chunk):
            c.sendall(buf)
    th.join()
    srv.close()
    return got[0] / 2**20 / (time.perf_counter() - t)


def transfers(url: str, token: str, case: str, upload: bytes, repeats: int = 5) -> dict:
    """One transfer at a time on the idle server: the CT download and an uncompressed mask upload, MB/s (best)."""
    import httpx

    out = {}
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url + "/api/v1", timeout=300, headers=h) as c:
        etag = c.get(f"/cases/{case}").json()["etag"]
        for name in ("download ct.nii.gz", "upload (.nii, uncompressed)"):
            best, size = float("inf"), len(upload)
            for _ in range(repeats):
                t = time.perf_counter()
                if name.startswith("download"):
                    r = c.get(f"/cases/{case}/files/ct.nii.gz")
                    size = len(r.content)
                else:  # each upload starts from the previous one's ETag
                    r = c.put(f"/cases/{case}/draft", content=upload, headers={"If-Match": f'"{etag}"'})
                    r.raise_for_status()
                    etag = r.json().get("etag", etag)
                dt = time.perf_counter() - t
                r.raise_for_status()
                best = min(best, dt)
            out[name] = {"mb": round(size / 2**20, 2), "best_ms": round(1000 * best, 1),
                         "mb_s": round(size / 2**20 / best, 1)}
    return out


def run_one(label: str, url: str | None, args, template: Path, body: bytes, gold_rate: float = 0.0) -> dict:
    import psutil
    from team_helpers import Server

    with tempfile.TemporaryDirectory(prefix="ctlabel-bench-") as tmp:
        t = time.perf_counter()
        n_gold = args.gold_cases if gold_rate > 0 else 0
        svc, tokens, reviewers = prepare(Path(tmp), url, args.annotators + n_gold, template, args.reviewers)
        tokens = tokens[:args.annotators]
        from ctlabel.team import admin

        if n_gold:
            make_gold(svc, n_gold, body, Path(tmp), gold_rate)

        lead = admin.add_user(svc, "lead", "lead")
        spare = "spare"
        _copy_case(template, svc.cases_dir / spare)
        admin.register_case(svc, svc.cases_dir / spare, priority=-1)  # last in the queue: for the transfers
        setup_s = time.perf_counter() - t
        server = Server(svc.root, ("--volume-workers", str(args.volume_workers))).start()
        peak = [0, 0]
        done = threading.Event()

        def poll() -> None:  # the server and its volume workers together
            proc = psutil.Process(server.proc.pid)
            while not done.is_set():
                try:
                    procs = [proc, *proc.children(recursive=True)]
                    peak[0] = max(peak[0], sum(p.memory_info().rss for p in procs))
                    peak[1] = max(peak[1], proc.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.2)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        proc = psutil.Process(server.proc.pid)
        workers = proc.children()

        def cpu(p) -> float:
            t = p.cpu_times()
            return t.user + t.system

        main0, workers0, load0 = cpu(proc), sum(cpu(w) for w in workers), time.process_time()
        try:
            stats, wall, not_run = asyncio.run(drive(server.url, tokens, reviewers, body, args))
            out_cpu = {"server_main": round(cpu(proc) - main0, 1),
                       "server_workers": round(sum(cpu(w) for w in workers) - workers0, 1),
                       "load_generator": round(time.process_time() - load0, 1)}
            idle = transfers(server.url, lead, spare, raw_mask(template, body))
        finally:
            done.set()
            server.stop()
        ops = sum(len(s["lat"]) for s in stats.values())
        out = {"db": label, "gold_rate": gold_rate, "annotators": args.annotators, "reviewers": args.reviewers,
               "volume_workers": args.volume_workers,
               "think_s": args.think, "duration_s": args.duration,
               "setup_s": round(setup_s, 1), "wall_s": round(wall, 1),
               "ops": ops, "ops_per_s": round(ops / wall, 1), "server_peak_rss_mb": round(peak[0] / 2**20, 1),
               "server_main_peak_rss_mb": round(peak[1] / 2**20, 1),
               "load_avg_1min": round(os.getloadavg()[0], 2), "endpoints": {}}
        out["idle_transfers"] = idle
        out["not_run"] = not_run  # planned steps the duration did not leave time for (or without a case)
        out["planned"] = {**{k: v * args.annotators for k, v in plan(args).items()}, "claim": args.annotators}
        out["cpu_s"] = out_cpu
        out["loopback_tcp_mb_s"] = round(loopback_mb_s(), 1)
        for name, s in sorted(stats.items()):
            lat = s["lat"]
            out["endpoints"][name] = {"n": len(lat), "errors": s["errors"],
                                      "p50_ms": round(1000 * percentile(lat, 50), 1),
                                      "p95_ms": round(1000 * percentile(lat, 95), 1),
                                      "p99_ms": round(1000 * percentile(lat, 99), 1),
                                      "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else None,
                                      "mb": round(s["bytes"] / 2**20, 2),
                                      "mb_s_median": round(s["bytes"] / len(lat) / 2**20
                                                           / percentile(lat, 50), 2) if lat else None}
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotators", type=int, default=300)
    ap.add_argument("--duration", type=float, default=240.0, help="seconds of simulated work")
    ap.add_argument("--think", type=float, default=20.0,
                    help="mean think time between actions, s (each wait is 0.5-1.5 x this: 10-30 s by default)")
    ap.add_argument("--beats", type=int, default=3, help="heartbeats before each upload")
    ap.add_argument("--uploads", type=int, default=2, help="uploads per case before submitting")
    ap.add_argument("--image", action="store_true", help="also download the 7 MB CT per annotator")
    ap.add_argument("--reviewers", type=int, default=0,
                    help="simulated reviewers: review-next, fetch the draft, think, approve (1 in 5: reject)")
    ap.add_argument("--volume-workers", type=int, default=2, help="the server's volume worker processes")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--gold-rates", default="0", metavar="R[,R...]",
                    help="gold rates to run, each a run of its own (e.g. 0,0.05: p95 with and without gold)")
    ap.add_argument("--gold-cases", type=int, default=10, help="gold cases made when a gold rate is above 0")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    rates = [float(r) for r in args.gold_rates.split(",")]

    from team_helpers import PHILIPS_5MM, PgCluster, _initdb, brain_mask_bytes

    from ctlabel.intake.convert import ConvertOptions, convert

    with tempfile.TemporaryDirectory(prefix="ctlabel-bench-src-") as src:
        rep = convert([PHILIPS_5MM], src, jobs=1, options=ConvertOptions(), progress=False)
        template = Path(rep.converted[0]["case"])
        body = brain_mask_bytes(template)
        results = []
        cluster = None
        try:
            if args.db in ("sqlite", "both"):
                results += [run_one("sqlite", None, args, template, body, rate) for rate in rates]
            if args.db in ("postgresql", "both"):
                initdb = _initdb()
                if initdb is None:
                    print("PostgreSQL (initdb) is not installed; skipped", file=sys.stderr)
                else:
                    cluster = PgCluster(initdb.parent)
                    results += [run_one("postgresql", cluster.create_database(), args, template, body, rate)
                                for rate in rates]
        finally:
            if cluster is not None:
                cluster.stop()
    for r in results:
        print(f"== {r['db']}, gold rate {r['gold_rate']}: {r['annotators']} annotators, "
              f"{r['reviewers']} reviewers (think {r['think_s']} s), "
              f"{r['ops']} requests in "
              f"{r['wall_s']} s = "
              f"{r['ops_per_s']} ops/s; server peak RSS {r['server_peak_rss_mb']} MB with its workers "
              f"({r['server_main_peak_rss_mb']} MB the main process); load avg {r['load_avg_1min']}")
        print(f"   {'endpoint':<22} {'n':>6} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'MB/s p50':>9}")
        for name, e in r["endpoints"].items():
            print(f"   {name:<22} {e['n']:>6} {e['errors']:>4} {e['p50_ms']:>8} {e['p95_ms']:>8} {e['p99_ms']:>8} "
                  f"{e['mb_s_median']:>9}")
        print(f"   CPU seconds during the load: {r['cpu_s']}")
        if r["not_run"]:
            print("   NOT RUN (--duration ran out first, or no case was claimed): " + ", ".join(
                f"{step} {n} of {r['planned'][step]}" for step, n in r["not_run"].items())
                + "; the figures above are not of the whole workload")
        else:
            print("   every planned step ran (claims, heartbeats, uploads, submits)")
        lo = r["loopback_tcp_mb_s"]
        for name, t in r["idle_transfers"].items():
            print(f"   idle server, {name}: {t['mb']} MB in {t['best_ms']} ms = {t['mb_s']} MB/s "
                  f"({t['mb_s'] / lo:.3f} x loopback TCP, {lo} MB/s)")
    for db in {r["db"] for r in results}:
        runs = [r for r in results if r["db"] == db]
        base = next((r for r in runs if r["gold_rate"] == 0), None)
        for r in runs:
            if base is None or r is base:
                continue
            print(f"== {db}: p95 with gold rate {r['gold_rate']} / without, per endpoint (same machine, one after"
                  " the other):")
            for name, e in r["endpoints"].items():
                b = base["endpoints"].get(name)
                if b and b["p95_ms"]:
                    print(f"   {name:<22} {e['p95_ms']:>8} / {b['p95_ms']:>8} ms = {e['p95_ms'] / b['p95_ms']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if any(r["not_run"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
