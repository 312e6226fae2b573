"""Fixtures of the team server tests: every server test runs on SQLite and on a real PostgreSQL.

See ``team_helpers.py`` for the cluster (initdb as the ``postgres`` user under root, a unix
socket, stopped by its process id) and the served project.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from team_helpers import PHILIPS_5MM, PgCluster, Server, _initdb


@pytest.fixture(scope="session")
def pg_cluster():
    initdb = _initdb()
    if initdb is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb) is missing; scripts/setup.sh installs it")
        pytest.skip("PostgreSQL (initdb) is not installed")
    cluster = PgCluster(initdb.parent)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str | None:
    """None for SQLite (the project's team.db), else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_cluster").create_database()


@pytest.fixture(scope="session")
def philips_template(tmp_path_factory) -> Path:
    """The 5 mm Philips head CT converted once: a case folder to copy into projects."""
    from ctlabel.intake.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("philips_cases")
    rep = convert([PHILIPS_5MM], out, jobs=1, options=ConvertOptions(), progress=False)
    assert rep.ok and len(rep.converted) == 1
    return Path(rep.converted[0]["case"])


@pytest.fixture
def serve():
    started: list[Server] = []

    def start(project: Path) -> Server:
        s = Server(project).start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
