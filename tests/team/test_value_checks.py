"""CHECK constraints on roles, case states, claims, reads, uploads and rates (migration 0005), on both databases.

An old project database (made at 0003) upgrades with its rows kept; one holding a value the
constraints refuse is refused with the rows to correct, and nothing changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError

import ctlabel.team.db as team_db
from ctlabel.errors import InputError
from ctlabel.team.db import make_engine, migrate

OLD_ROWS = [
    "INSERT INTO projects (id, name, time_zone, idle_limit_s, open_limit, lease_s, upload_limit, currency, created,"
    " readers) VALUES (1, 'p', 'UTC', 60, 2, 14400, 1000, 'EUR', '2026-01-01 00:00:00+00', 1)",
    "INSERT INTO users (id, name, role, active, created) VALUES"
    " (1, 'ann', 'annotator', TRUE, '2026-01-01 00:00:00+00'), (2, 'rev', 'reviewer', TRUE, '2026-01-01 00:00:00+00'),"
    " (3, 'lee', 'lead', TRUE, '2026-01-01 00:00:00+00')",
    "INSERT INTO cases (id, name, path, state, priority, annotator_id, created, updated) VALUES"
    " (1, 'c1', 'c1', 'submitted', 0, 1, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')",
    "INSERT INTO assignments (id, case_id, user_id, kind, status, claimed) VALUES"
    " (1, 1, 1, 'annotate', 'done', '2026-01-01 00:00:00+00'), (2, 1, 2, 'review', 'open', '2026-01-01 00:00:00+00')",
    "INSERT INTO reads (id, case_id, user_id, slot, status, claimed) VALUES (1, 1, 1, 'A', 'submitted',"
    " '2026-01-01 00:00:00+00')",
    "INSERT INTO uploads (id, case_id, user_id, kind, base_sha256, voxel_sha256, size, at) VALUES"
    " (1, 1, 1, 'draft', 'none', 'abc', 10, '2026-01-01 00:00:00+00')",
    "INSERT INTO rates (id, kind, cents) VALUES (1, 'annotation', 700)",
    "INSERT INTO events (id, case_id, user_id, kind, at) VALUES (1, 1, 1, 'submit', '2026-01-01 00:00:00+00')",
]
BAD = {  # each refused by its constraint
    "users.role": "INSERT INTO users (name, role, active, created) VALUES ('x', 'admin', TRUE, '2026-01-01')",
    "cases.state": "INSERT INTO cases (name, path, state, priority, created, updated) VALUES ('c9', 'c9', 'done', 0,"
                   " '2026-01-01', '2026-01-01')",
    "assignments.status": "INSERT INTO assignments (case_id, user_id, kind, status, claimed) VALUES (1, 1, 'annotate',"
                          " 'lost', '2026-01-01')",
    "assignments.kind": "INSERT INTO assignments (case_id, user_id, kind, status, claimed) VALUES (1, 1, 'paint',"
                        " 'open', '2026-01-01')",
    "reads.slot": "INSERT INTO reads (case_id, user_id, slot, status, claimed) VALUES (1, 1, 'C', 'open',"
                  " '2026-01-01')",
    "reads.slot0": "INSERT INTO reads (case_id, user_id, slot, status, claimed) VALUES (1, 1, 0, 'open',"
                   " '2026-01-01')",
    "reads.status": "INSERT INTO reads (case_id, user_id, slot, status, claimed) VALUES (1, 1, 2, 'gone',"
                    " '2026-01-01')",
    "uploads.kind": "INSERT INTO uploads (case_id, user_id, kind, base_sha256, voxel_sha256, size, at) VALUES"
                    " (1, 1, 'mask', 'a', 'b', 1, '2026-01-01')",
    "rates.kind": "INSERT INTO rates (kind, cents) VALUES ('bonus', 1)",
}


def _url(tmp_path: Path, db_url: str | None) -> str:
    return db_url or f"sqlite:///{tmp_path / 'team.db'}"


def _upgrade_to(engine: sa.Engine, revision: str) -> None:
    """The schema of an old ctlabel: the migrations up to ``revision`` only."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(team_db.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()


def test_an_old_database_upgrades_with_its_rows_and_then_refuses_bad_values(tmp_path, db_url):
    engine = make_engine(_url(tmp_path, db_url))
    _upgrade_to(engine, "0003")
    with engine.begin() as conn:
        for sql in OLD_ROWS:
            conn.exec_driver_sql(sql)
    migrate(engine)
    assert _version(engine) >= "0005"  # the newest revision (0006: gold cases)
    with engine.connect() as conn:  # every row kept, the references intact
        assert conn.exec_driver_sql("SELECT name, role FROM users ORDER BY id").all() == [
            ("ann", "annotator"), ("rev", "reviewer"), ("lee", "lead")]
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM assignments JOIN cases ON cases.id = assignments.case_id"
                                    " JOIN users ON users.id = assignments.user_id").scalar() == 2
        assert conn.exec_driver_sql("SELECT state FROM cases").scalar() == "submitted"
        assert conn.exec_driver_sql("SELECT slot FROM reads").all() == [(1,)]  # read A is slot 1 (0007)
        if engine.dialect.name == "sqlite":  # the rebuild turned foreign keys off only for itself
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    for what, sql in BAD.items():
        # PostgreSQL refuses a text slot by its type (DataError) before any constraint
        with pytest.raises((IntegrityError, DataError), match=f"ck_{what.replace('.', '_').rstrip('0')}|CHECK "
                           "constraint failed|invalid input syntax for type integer"):
            with engine.begin() as conn:
                conn.exec_driver_sql(sql.replace("'2026-01-01'", "'2026-01-01 00:00:00+00'"))
    with engine.begin() as conn:  # the allowed values still go in
        conn.exec_driver_sql("INSERT INTO assignments (case_id, user_id, kind, status, claimed) VALUES"
                             " (1, 3, 'annotate', 'reassigned', '2026-01-02 00:00:00+00')")
    engine.dispose()


def test_the_orm_refuses_a_bad_role_and_state(tmp_path, db_url):
    from ctlabel.team.db import CaseRow, User, make_sessionmaker

    engine = make_engine(_url(tmp_path, db_url))
    migrate(engine)
    session = make_sessionmaker(engine)
    for row in (User(name="x", role="owner"), CaseRow(name="c", path="c", state="finished")):
        with pytest.raises(IntegrityError), session.begin() as db:
            db.add(row)
    engine.dispose()


def test_an_old_database_with_a_value_outside_the_lists_is_refused_unchanged(tmp_path, db_url):
    engine = make_engine(_url(tmp_path, db_url))
    _upgrade_to(engine, "0004")
    with engine.begin() as conn:
        for sql in OLD_ROWS:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql("UPDATE users SET role = 'admin' WHERE name = 'rev'")
        conn.exec_driver_sql("UPDATE assignments SET status = 'lost'")
    with pytest.raises(InputError) as refused:
        migrate(engine)
    text = str(refused.value)
    assert "users.role = 'admin' (1 row; allowed: annotator, reviewer, lead)" in text
    assert "assignments.status = 'lost' (2 rows;" in text and "nothing was changed" in text
    assert _version(engine) == "0004"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT role FROM users WHERE name = 'rev'").scalar() == "admin"
    engine.dispose()


def test_the_lists_are_the_codes_and_the_migrations():
    import importlib.util

    from ctlabel.model import CaseState

    assert team_db.CASE_STATES == tuple(s.value for s in CaseState)
    path = Path(team_db.__file__).parent / "migrations" / "versions" / "0005_value_checks.py"
    spec = importlib.util.spec_from_file_location("m0005", path)
    assert spec is not None and spec.loader is not None
    m0005 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0005)
    path = path.with_name("0006_gold_cases.py")  # 0006 lets rates.kind be 'gold'
    spec = importlib.util.spec_from_file_location("m0006", path)
    assert spec is not None and spec.loader is not None
    m0006 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0006)
    spec = importlib.util.spec_from_file_location("m0007", path.with_name("0007_reader_slots.py"))
    assert spec is not None and spec.loader is not None
    m0007 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0007)
    checks = {t: {**cols, **m0006.CHECKS.get(t, {})} for t, cols in m0005.CHECKS.items()}
    models = {t.name: {c.name: c.sqltext.text for c in t.constraints if isinstance(c, sa.CheckConstraint)
                       and c.name == f"ck_{t.name}_{c.sqltext.text.split()[0]}"}
              for t in team_db.Base.metadata.sorted_tables}
    expected = {t: {f"ck_{t}_{c}": m0005._sql(c, v) for c, v in cols.items()} for t, cols in checks.items()}
    expected["reads"]["ck_reads_slot"] = m0007.SLOT_CHECK  # 0007: slots are numbers 1, 2, ...
    spec = importlib.util.spec_from_file_location("m0008", path.with_name("0008_review_policy.py"))
    assert spec is not None and spec.loader is not None
    m0008 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0008)
    expected["cases"]["ck_cases_state"] = m0005._sql("state", m0008.STATES)  # 0008: 'accepted' (the review policy)
    assert expected == {t: models[t] for t in checks}
    assert team_db.READ_SLOT_CHECK == m0007.SLOT_CHECK
    assert team_db.RATE_KINDS == m0006.CHECKS["rates"]["kind"]
