"""Pay periods (issue 20, item 5): closed by the lead, frozen, never overlapping, marked paid.

The work is written as the server's events (the report reads only those), dated on past days,
on SQLite and PostgreSQL; the CLI (``ctlabel team pay ...``) is compared with ``ctlabel team
report --csv`` of the same days. Also: durations to the second, and the review commands'
heartbeats (reviewer time).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from team_helpers import make_project

from ctlabel.cli.main import main
from ctlabel.team import admin, dashboard_pay, pay
from ctlabel.team.db import CaseRow, Event, PayPeriod, User
from ctlabel.team.report import duration_text, report, to_csv

DAY1 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().out


def _beats(db, uid: int, cid: int, t0: dt.datetime, seconds) -> None:
    for s in seconds:
        db.add(Event(user_id=uid, case_id=cid, kind="heartbeat", at=t0 + dt.timedelta(seconds=s)))


def _team(tmp_path, db_url):
    svc = make_project(tmp_path / "p", db_url)
    for name, role in (("ann", "annotator"), ("ann2", "annotator"), ("rev", "reviewer")):
        admin.add_user(svc, name, role)
    admin.set_rates(svc, {"annotation": 500, "review": 100, "rework": 150})
    with svc.tx() as db:
        u = {n: i for i, n in db.execute(select(User.id, User.name))}
        c1, c2, c3 = (CaseRow(name=f"c{i}", path=f"c{i}") for i in (1, 2, 3))
        db.add_all([c1, c2, c3])
        db.flush()
        # day 1: ann annotates c1 (40 s), rev rejects it, ann reworks it, rev approves it (reviewer time 61 s)
        _beats(db, u["ann"], c1.id, DAY1, (0, 20, 40, 400))
        db.add(Event(user_id=u["ann"], case_id=c1.id, kind="submit", at=DAY1 + dt.timedelta(minutes=10),
                     detail={"resubmission": False}))
        _beats(db, u["rev"], c1.id, DAY1 + dt.timedelta(minutes=20), (0, 30, 60, 61))
        db.add(Event(user_id=u["rev"], case_id=c1.id, kind="reject", at=DAY1 + dt.timedelta(minutes=21),
                     detail={"annotator_id": u["ann"]}))
        db.add(Event(user_id=u["ann"], case_id=c1.id, kind="submit", at=DAY1 + dt.timedelta(minutes=40),
                     detail={"resubmission": True}))
        db.add(Event(user_id=u["rev"], case_id=c1.id, kind="approve", at=DAY1 + dt.timedelta(minutes=50),
                     detail={"annotator_id": u["ann"], "resubmissions": 1, "reviews": {str(u["rev"]): 1}}))
        # day 2: c2 read twice (ann and ann2), approved by rev
        _beats(db, u["ann2"], c2.id, DAY2, (0, 15))
        db.add(Event(user_id=u["rev"], case_id=c2.id, kind="approve", at=DAY2 + dt.timedelta(hours=1),
                     detail={"readers": [u["ann"], u["ann2"]], "reviews": {}}))
        # today (open): c3 approved
        db.add(Event(user_id=u["rev"], case_id=c3.id, kind="approve",
                     detail={"annotator_id": u["ann2"], "resubmissions": 0, "reviews": {}}))
    return svc, u


def test_pay_periods_close_freeze_and_pay(tmp_path, db_url, capsys):
    svc, u = _team(tmp_path, db_url)
    project = str(svc.root)
    rc, before = _cli(capsys, "team", "pay", "list", project, "--json")
    assert rc == 0 and json.loads(before)["periods"] == [] and json.loads(before)["open_cents"] == 650 + 200 + 1100 \
        + 600
    # only days that are over, and never twice the same days
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert _cli(capsys, "team", "pay", "close", project, "--until", today)[0] == 1
    assert _cli(capsys, "team", "pay", "close", project, "--until", "2026-3-1")[0] == 2
    rc, out = _cli(capsys, "team", "pay", "close", project, "--until", "2026-03-01", "--by", "boss", "--json")
    assert rc == 0, out
    p1 = json.loads(out)
    assert (p1["number"], p1["first_day"], p1["last_day"], p1["status"], p1["closed_by"]) == \
        (1, None, "2026-03-01", "closed", "boss")
    assert p1["owed_cents"] == (500 + 150) + 2 * 100  # ann: annotation + rework; rev: reject + approve
    for until in ("2026-03-01", "2026-02-27"):
        assert _cli(capsys, "team", "pay", "close", project, "--until", until)[0] == 1
    # the period's CSV is the report of its days, byte for byte
    rc, csv1 = _cli(capsys, "team", "pay", "show", project, "1", "--csv")
    assert rc == 0 and csv1 == _cli(capsys, "team", "report", project, "--until", "2026-03-01", "--csv")[1]
    lines = {p["user"]: p for p in pay.period_report(svc, 1)["people"]}
    assert lines["ann"]["active_seconds"] == 40 and lines["rev"]["active_seconds"] == 61
    assert lines["ann"]["items"] == {"annotation": 1, "review": 0, "rework": 1, "gold": 0}
    assert (lines["rev"]["items"]["review"], lines["rev"]["reviews"], lines["ann"]["rejected"]) == (2, 2, 1)
    # a later rate change or a late event changes the open work, never the closed period
    admin.set_rates(svc, {"annotation": 900, "review": 300})
    with svc.tx() as db:
        _beats(db, u["ann"], db.scalar(select(CaseRow.id).where(CaseRow.name == "c1")), DAY1, (41, 50))
    assert _cli(capsys, "team", "pay", "show", project, "1", "--csv")[1] == csv1
    assert to_csv(report(svc, None, "2026-03-01")) != csv1
    # period 2 starts the day after period 1 and has the rates of its close
    p2 = pay.close_period(svc, "2026-03-02", "boss")
    assert (p2.number, p2.first_day, p2.owed_cents) == (2, dt.date(2026, 3, 2), 2 * 900 + 300)
    csv2 = _cli(capsys, "team", "report", project, "--since", "2026-03-02", "--until", "2026-03-02", "--csv")[1]
    assert to_csv(pay.period_report(svc, 2)) == csv2 and "ann2,annotator" in csv2
    # paid, unpaid, open
    rc, out = _cli(capsys, "team", "pay", "mark-paid", project, "1")
    assert rc == 0 and "marked paid" in out
    assert _cli(capsys, "team", "pay", "mark-paid", project, "1")[0] == 1  # once
    assert _cli(capsys, "team", "pay", "show", project, "7")[0] == 1
    s = pay.summary(svc)
    assert (s.paid_cents, s.unpaid_cents, s.open_cents, s.owed_cents) == (850, 2100, 1200, 3300)
    assert s.open_since == dt.date(2026, 3, 3) and [p.status for p in s.periods] == ["paid", "closed"]
    html = dashboard_pay.pay_section(svc)  # the dashboard's section
    for amount in ("33.00 EUR", "21.00 EUR", "12.00 EUR", "8.50 EUR"):
        assert f"<td class=n>{amount}</td>" in html
    assert "<td>2026-03-02 – 2026-03-02</td>" in html and "<td>start – 2026-03-01</td>" in html
    from ctlabel.team.dashboard_pages import people_body  # the dashboard's hook (the people page)

    assert 'id="pay"' in people_body(svc)
    rc, text = _cli(capsys, "team", "pay", "list", project)
    assert rc == 0 and "owed in all (unpaid and open) 33.00 EUR" in text and "paid 2026-" in text
    rc, text = _cli(capsys, "team", "pay", "show", project, "1")
    assert rc == 0 and "1 min 01 s" in text and "40 s" in text
    # the database refuses a status outside the enum
    with pytest.raises(IntegrityError), svc.tx() as db:
        db.add(PayPeriod(number=9, last_day=dt.date(2027, 1, 1), status="bogus", closed_by="x", currency="EUR",
                         time_zone="UTC", idle_limit_s=60, rates_cents={}))


def test_durations_to_the_second_while_short():
    assert [duration_text(s) for s in (0, 0.4, 45, 59.6, 185, 3599, 3600, 8057, 90000)] == \
        ["0 s", "0 s", "45 s", "1 min 00 s", "3 min 05 s", "59 min 59 s", "1 h 00 min", "2 h 14 min", "25 h 00 min"]


class _Recorder:
    """A stand-in for :class:`ctlabel.team.client.Client` that records the calls of a CLI command."""

    def __init__(self, folder) -> None:
        self.calls: list[tuple] = []
        self.folder = folder

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, *args))
            if name == "review_next":
                return {"case": "c1", "versions": ["v001"]}
            if name in ("download", "correct"):
                return self.folder if name == "download" else {"case": "c1", "state": "submitted"}
            return {"case": "c1", "state": "approved", "readers": 1, "reads": []}
        return call


def test_review_commands_send_heartbeats(tmp_path, monkeypatch, capsys):
    from ctlabel.cli import common

    folder = tmp_path / "c1"
    folder.mkdir()
    (folder / ".team.json").write_text(json.dumps({"Case": "c1"}))
    rec = _Recorder(folder)
    monkeypatch.setattr(common, "team_client", lambda args: rec)
    for argv in (["review-next", "--dir", str(tmp_path)], ["reads", "c1"], ["reject", "c1", "--comment", "fix"],
                 ["correct", str(folder)], ["approve", "c1"]):
        rec.calls.clear()
        assert _cli(capsys, "team", *argv)[0] == 0
        names = [c[0] for c in rec.calls]
        assert ("heartbeat", "c1") in rec.calls, argv
        if argv[0] != "review-next":  # the time up to the decision counts: the heartbeat goes first
            assert names[0] == "heartbeat", names


def test_a_reviewers_heartbeats_keep_the_case_and_count_as_time(tmp_path):
    svc = make_project(tmp_path / "p", None)
    admin.add_user(svc, "rev", "reviewer")
    admin.set_rates(svc, {"review": 100})
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=100)
    with svc.tx() as db:
        rev = db.scalar(select(User).where(User.name == "rev"))
        row = CaseRow(name="c1", path="c1", state="submitted", reviewer_id=rev.id,
                      review_lease_until=start + dt.timedelta(seconds=200))
        db.add(row)
    for s in (0, 25, 50, 75):
        svc.claims.heartbeat(rev, "c1", at=start + dt.timedelta(seconds=s))
    with svc.tx() as db:
        lease = db.scalar(select(CaseRow.review_lease_until))
        assert (lease.replace(tzinfo=dt.UTC) - start).total_seconds() > 4 * 3600 - 60  # renewed to a full lease
    me = report(svc)["people"][0]
    assert (me["user"], me["active_seconds"]) == ("rev", 75)


def test_the_migrations_are_one_line():
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import ctlabel.team.db as team_db

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(team_db.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1 and len(script.get_bases()) == 1
    assert "0003" in [r.revision for r in script.walk_revisions()]


def test_pay_periods_over_the_api(tmp_path):
    from fastapi.testclient import TestClient

    from ctlabel.team.api import create_app

    svc, _ = _team(tmp_path, None)
    lead, ann = admin.add_user(svc, "boss", "lead"), admin.add_user(svc, "ann3", "annotator")
    http = TestClient(create_app(svc))
    as_lead = {"Authorization": f"Bearer {lead}"}
    assert http.get("/api/v1/pay", headers={"Authorization": f"Bearer {ann}"}).status_code == 403
    assert http.get("/api/v1/pay", headers=as_lead).json()["owed_cents"] == 2550
    today = dt.datetime.now(dt.UTC).date().isoformat()
    r = http.post("/api/v1/pay/close", json={"until": today}, headers=as_lead)
    assert r.status_code == 409 and "not over yet" in r.json()["detail"]
    assert http.post("/api/v1/pay/close", json={"until": "March"}, headers=as_lead).status_code == 422
    r = http.post("/api/v1/pay/close", json={"until": "2026-03-02"}, headers=as_lead)
    assert r.status_code == 200 and r.json()["closed_by"] == "boss" and r.json()["owed_cents"] == 850 + 1100
    csv = http.get("/api/v1/pay/1/csv", headers=as_lead)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text == to_csv(report(svc, None, "2026-03-02"))
    assert http.get("/api/v1/pay/1", headers=as_lead).json()["period"]["status"] == "closed"
    assert http.post("/api/v1/pay/1/paid", headers=as_lead).json()["status"] == "paid"
    assert http.post("/api/v1/pay/1/paid", headers=as_lead).status_code == 409
    assert http.get("/api/v1/pay/2", headers=as_lead).status_code == 404
    summary = http.get("/api/v1/pay", headers=as_lead).json()
    assert (summary["paid_cents"], summary["unpaid_cents"], summary["open_cents"]) == (1950, 0, 600)
    svc.engine.dispose()


def test_two_closes_at_once_never_overlap(tmp_path, db_url):
    import threading

    from ctlabel.team.errors import Conflict

    svc, _ = _team(tmp_path, db_url)
    barrier, out = threading.Barrier(2), {}

    def close(until: str) -> None:
        barrier.wait()
        try:
            out[until] = pay.close_period(svc, until, "boss")
        except Conflict as exc:
            out[until] = exc

    threads = [threading.Thread(target=close, args=(d,)) for d in ("2026-03-01", "2026-03-02")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done = pay.periods(svc)
    assert [p.number for p in done] == list(range(1, len(done) + 1)) and done[-1].last_day == dt.date(2026, 3, 2)
    for a, b in zip(done, done[1:]):
        assert b.first_day == a.last_day + dt.timedelta(days=1)  # back to back, never overlapping
    if len(done) == 1:  # 03-02 came first: 03-01 lies inside it
        assert isinstance(out["2026-03-01"], Conflict)
    assert sum(p.owed_cents for p in done) == sum(p["owed_cents"] for p in report(svc, None, "2026-03-02")["people"])
    svc.engine.dispose()
