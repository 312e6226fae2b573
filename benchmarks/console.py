"""Benchmark of the lead's console summary on a 10,000-case project (issue 20, target: renders in < 0.5 s).

Run from the repository root::

    python benchmarks/console.py                       # SQLite in a temporary folder (about 20 s)
    python benchmarks/console.py --db postgresql+psycopg://USER@/DB?host=/run/postgresql

Builds a project whose database holds 10,000 cases and about 95,000 events with bulk inserts
(no case folders): 300 annotators and 20 reviewers; cases spread over every stage (never
claimed, claimed, in progress with heartbeats and uploads, submitted, under review, rejected
once or twice, approved over the last 20 days, flagged, some forced past QA, some held by a
revoked person). Then times, best of ``--repeat`` runs, each function the summary page
calls (``ctlabel.team.console_data``, ``console_alerts``, the report's figures) and the whole
page body (``ctlabel.team.dashboard_pages.summary_body``), and the case table (a page, a
stage filter). Nothing reads ``../shared``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(root: Path, url: str | None, n_cases: int, seed: int = 0, analyze: bool = True):
    """A project with ``n_cases`` case rows and their events, inserted in bulk; returns the Service.

    On PostgreSQL the tables are then analyzed (``analyze``), as autovacuum does soon after.
    """
    from sqlalchemy import insert

    from ctlabel.team import admin
    from ctlabel.team.db import Assignment, CaseRow, Event, Read, User  # noqa: F401 - Read: schema is Alembic's

    rng = random.Random(seed)
    svc = admin.init_project(root, url=url)
    now = dt.datetime.now(dt.UTC)
    with svc.tx() as db:
        db.execute(insert(User), [{"name": f"ann{i:03d}", "role": "annotator", "active": i % 100 != 7,
                                   "created": now} for i in range(300)]
                   + [{"name": f"rev{i:02d}", "role": "reviewer", "active": True, "created": now} for i in range(20)]
                   + [{"name": "boss", "role": "lead", "active": True, "created": now}])
        uid = {name: i for i, name in db.execute(User.__table__.select().with_only_columns(User.id, User.name))}
        anns = [uid[f"ann{i:03d}"] for i in range(300)]
        revs = [uid[f"rev{i:02d}"] for i in range(20)]
        lease = now + dt.timedelta(hours=2)
        cases, stages = [], []
        for i in range(n_cases):
            r = rng.random()
            stage = ("approved" if r < 0.45 else "never" if r < 0.70 else "claimed" if r < 0.74 else
                     "in_progress" if r < 0.80 else "submitted" if r < 0.88 else "in_review" if r < 0.91 else
                     "rejected" if r < 0.97 else "flagged")
            a, v = rng.choice(anns), rng.choice(revs)
            state = {"approved": "approved", "submitted": "submitted", "in_review": "submitted",
                     "rejected": "rejected"}.get(stage, "in_progress")
            held = stage in ("claimed", "in_progress", "rejected")
            cases.append({"name": f"case{i:05d}", "path": f"case{i:05d}", "state": state, "priority": 0,
                          "flagged": "motion artefact" if stage == "flagged" else None,
                          "annotator_id": a if held or state != "in_progress" else None,
                          "lease_until": lease if stage in ("claimed", "in_progress") else None,
                          "reviewer_id": v if stage == "in_review" else None,
                          "review_lease_until": lease if stage == "in_review" else None,
                          "created": now, "updated": now})
            stages.append((stage, a, v))
        db.execute(insert(CaseRow), cases)
        ids = [i for (i,) in db.execute(CaseRow.__table__.select().with_only_columns(CaseRow.id)
                                        .order_by(CaseRow.id))]
        evs, claims = [], []
        for cid, (stage, a, v) in zip(ids, stages):
            if stage == "never":
                continue
            t = now - dt.timedelta(days=rng.uniform(0, 20))
            claims.append({"case_id": cid, "user_id": a, "kind": "annotate",
                           "status": "open" if stage in ("claimed", "in_progress") else "done", "claimed": t})
            evs.append({"case_id": cid, "user_id": a, "kind": "claim", "at": t})
            if stage == "claimed":
                continue
            for k in range(6):
                evs.append({"case_id": cid, "user_id": a, "kind": "heartbeat", "at": t + dt.timedelta(seconds=20 * k)})
            evs.append({"case_id": cid, "user_id": a, "kind": "upload", "at": t + dt.timedelta(minutes=2)})
            if stage == "in_progress" or stage == "flagged":
                continue
            forced = rng.random() < 0.05
            evs.append({"case_id": cid, "user_id": a, "kind": "submit", "at": t + dt.timedelta(minutes=3),
                        "detail": {"version": "v001", "resubmission": False,
                                   **({"forced": True, "qa_errors": ["label 1: 60% on air"]} if forced else {})}})
            if stage in ("rejected", "approved") and rng.random() < 0.3 or stage == "rejected":
                for n in range(1 + (rng.random() < 0.2)):
                    evs.append({"case_id": cid, "user_id": v, "kind": "reject",
                                "at": t + dt.timedelta(minutes=5 + n), "detail": {"annotator_id": a, "marks": []}})
            if stage == "approved":
                evs.append({"case_id": cid, "user_id": v, "kind": "approve", "at": t + dt.timedelta(minutes=9),
                            "detail": {"annotator_id": a, "resubmissions": 0, "reviews": {}}})
        db.execute(insert(Assignment), claims)
        db.execute(insert(Event), evs)
    if svc.engine.dialect.name == "postgresql" and analyze:  # what autovacuum does soon after such inserts
        with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return svc, len(evs)


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> int:
    """Build, time, print; returns 0 when the whole summary is under the target, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in the temporary project)")
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--target", type=float, default=0.5, help="seconds for the whole summary")
    ap.add_argument("--no-analyze", action="store_true", help="PostgreSQL: time before the tables are analyzed")
    args = ap.parse_args(argv)
    from ctlabel.team import console_alerts, console_data, dashboard_data, dashboard_pages, dashboard_pay

    with tempfile.TemporaryDirectory(prefix="ctlabel-console-") as tmp:
        t = time.perf_counter()
        svc, n_events = build(Path(tmp) / "proj", args.db, args.cases, analyze=not args.no_analyze)
        print(f"built {args.cases} cases, {n_events} events on {svc.engine.dialect.name} in "
              f"{time.perf_counter() - t:.1f} s")
        prog = console_data.progress(svc)
        steps = {
            "progress (stages)": lambda: console_data.progress(svc),
            "forecast": lambda: console_data.forecast(svc, prog),
            "review queue": lambda: console_data.review_queue(svc),
            "alerts": lambda: console_alerts.alerts(svc),
            "throughput (14 days)": lambda: console_data.throughput(svc),
            "people now": lambda: console_data.people_now(svc),
            "pay section (ctlabel.team.pay)": lambda: dashboard_pay.pay_section(svc),
            "report figures (people page)": lambda: dashboard_data.figures(svc),
            "WHOLE SUMMARY (page body)": lambda: dashboard_pages.summary_body(svc),
            "people page (body)": lambda: dashboard_pages.people_body(svc),
            "case table, page 1": lambda: dashboard_data.case_page(svc),
            "case table, stage=in_progress": lambda: dashboard_data.case_page(svc, stage="in_progress"),
        }
        results = {}
        for name, fn in steps.items():
            results[name], out = timed(fn, args.repeat)
            print(f"{name:32s} {1000 * results[name]:8.1f} ms")
        print(f"stages: {prog.stages}, never claimed {prog.never_claimed}; alerts: {len(console_alerts.alerts(svc))}")
        whole = results["WHOLE SUMMARY (page body)"]
        print(f"summary {whole:.3f} s; target < {args.target} s: {'met' if whole < args.target else 'NOT met'}")
        svc.engine.dispose()
    return 0 if whole < args.target else 1


if __name__ == "__main__":
    sys.exit(main())
