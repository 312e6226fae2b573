"""Team pieces without a server: schema, time, pay days, tokens, CLI exit codes, the local refusal."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from sqlalchemy import select
from team_helpers import make_project

from ctlabel.cli.main import main
from ctlabel.team import admin, auth
from ctlabel.team.db import CaseRow, Event, User
from ctlabel.team.report import active_seconds, report


def test_migrations_make_exactly_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ctlabel.team.db import Base, make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(engine)
    migrate(engine)  # again: nothing to do
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_active_time_counts_only_short_gaps():
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    beats = [t0 + dt.timedelta(seconds=s) for s in (0, 60, 61, 200, 230)]
    assert active_seconds(beats, 60) == 60 + 1 + 30
    assert active_seconds(beats[::-1], 60) == 91  # order does not matter
    assert active_seconds([], 60) == 0


def test_tokens_are_stored_as_hashes_and_pay_days_follow_the_time_zone(tmp_path, philips_template):
    svc = make_project(tmp_path / "p", None, philips_template, n_cases=1, time_zone="Pacific/Auckland")
    token = admin.add_user(svc, "ann", "annotator")
    admin.add_user(svc, "rev", "reviewer")
    admin.set_rates(svc, {"annotation": 700, "review": 100})
    raw = b"".join(f.read_bytes() for f in svc.root.glob("team.db*"))  # the database and its WAL
    assert token.encode() not in raw and auth.hash_token(token).encode() in raw
    with svc.tx() as db:
        assert auth.user_for_token(db, token).name == "ann"
        assert auth.user_for_token(db, token + "x") is None
        ann = db.scalar(select(User).where(User.name == "ann"))
        rev = db.scalar(select(User).where(User.name == "rev"))
        row = db.scalar(select(CaseRow))
        # approved at 2026-03-01 12:30 UTC = 2026-03-02 01:30 in Auckland (UTC+13)
        db.add(Event(user_id=rev.id, case_id=row.id, kind="approve", at=dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC),
                     detail={"annotator_id": ann.id, "resubmissions": 0, "reviews": {}}))
    on = {p["user"]: p for p in report(svc, "2026-03-02", "2026-03-02")["people"]}
    assert on["ann"]["owed_cents"] == 700 and on["rev"]["owed_cents"] == 100
    assert report(svc, "2026-03-01", "2026-03-01")["people"] == []
    # a duplicate user is refused (exit 1), a bad role is bad usage (exit 2)
    assert main(["team", "user", "add", "ann", str(svc.root), "--role", "annotator"]) == 1
    assert main(["team", "user", "add", "new", str(svc.root)]) == 2


def test_cli_exit_codes_and_login_needed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTLABEL_CONFIG_DIR", str(tmp_path / "cfg"))
    assert main(["team", "next"]) == 2
    assert "not logged in" in (err := capsys.readouterr().err) and "ctlabel team login URL --token T" in err
    with pytest.raises(SystemExit) as e:
        main(["team", "user", "add"])
    assert e.value.code == 2
    assert main(["team", "report", str(tmp_path / "nothing")]) == 2  # not a project
    # a server that is not there: refused/failed, exit 1
    assert main(["team", "login", "http://127.0.0.1:9", "--token", "ctl_x"]) == 1
    assert main(["team", "init", str(tmp_path / "p"), "--time-zone", "Mars/Olympus"]) == 2


def test_local_commands_refuse_a_served_case(tmp_path, philips_template, capsys):
    svc = make_project(tmp_path / "p", None, philips_template, n_cases=1)
    case = next(p for p in svc.cases_dir.iterdir() if p.is_dir())
    for argv in (["submit", str(case)], ["approve", str(case), "--user", "r"],
                 ["reject", str(case), "--user", "r", "-m", "no"],
                 ["import", str(case / "ct.nii.gz"), "--case", str(case)]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "team project" in err and "ctlabel team" in err, err
    # an ordinary case folder elsewhere is not affected (the marker is per folder of cases)
    plain = tmp_path / "plain" / case.name
    shutil.copytree(case, plain)
    assert main(["review-status", str(plain), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "in_progress"
