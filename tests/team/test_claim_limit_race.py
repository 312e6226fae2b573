"""The open-case limit holds under parallel claims of one person, on SQLite and PostgreSQL.

Found: with ``--open-limit 1`` one annotator sending 30 parallel ``next`` calls took all 10 cases on
PostgreSQL (each claim counted the person's open cases before the others committed); 10
annotators x 5 parallel calls gave 3 of them 2 cases each.
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
from served import DATABASES, served_project
from sqlalchemy import func, select

from ctlabel.team import admin
from ctlabel.team.db import Assignment, CaseRow, User

CASES = 10


@pytest.fixture(scope="module", params=DATABASES)
def served(request, tmp_path_factory, philips_template):
    # claims never go to the volume workers: none are started (a server starts in half the time)
    yield from served_project(request, tmp_path_factory, philips_template, n_cases=CASES, volume_workers=0,
                              open_limit=1)


def _claim_all_at_once(url: str, tokens: list[str]) -> list[tuple[str, int]]:
    """Every token's ``POST /cases/next`` from its own thread, released together; (token, status) each."""
    clients = [httpx.Client(base_url=url + "/api/v1", timeout=120, headers={"Authorization": f"Bearer {t}"})
               for t in tokens]
    for c in clients:  # connected before the start, so that the requests leave together
        assert c.get("/me").status_code == 200
    start = threading.Barrier(len(tokens))
    out: list[tuple[str, int]] = []

    def claim(token: str, client: httpx.Client) -> None:
        start.wait()
        out.append((token, client.post("/cases/next").status_code))

    threads = [threading.Thread(target=claim, args=(t, c)) for t, c in zip(tokens, clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return out


def _open_claims(svc) -> Counter:
    with svc.read() as db:
        return Counter(dict(db.execute(select(User.name, func.count(Assignment.id)).join(
            Assignment, Assignment.user_id == User.id).where(Assignment.status == "open").group_by(User.name)).all()))


def _give_all_back(svc) -> None:
    """Every open claim withdrawn by its holder (each test starts with every case free)."""
    with svc.read() as db:
        held = db.execute(select(User, CaseRow.name).join(Assignment, Assignment.user_id == User.id)
                          .join(CaseRow, CaseRow.id == Assignment.case_id).where(Assignment.status == "open")).all()
        db.expunge_all()
    for user, case in held:
        svc.claims.withdraw(user, case)


def test_one_annotator_30_parallel_claims_get_one_case(served):
    svc, server = served
    _give_all_back(svc)
    token = admin.add_user(svc, "eager", "annotator")
    got = Counter(status for _, status in _claim_all_at_once(server.url, [token] * 30))
    assert got == {200: 1, 409: 29}, got
    assert _open_claims(svc)["eager"] == 1


def test_ten_annotators_5_parallel_claims_each_get_one_case(served):
    svc, server = served
    _give_all_back(svc)
    names = [f"ann{i}" for i in range(10)]
    tokens = {admin.add_user(svc, n, "annotator"): n for n in names}
    got = _claim_all_at_once(server.url, [t for t in tokens for _ in range(5)])
    per_user = Counter(tokens[t] for t, status in got if status == 200)
    assert all(per_user[n] <= 1 for n in names), per_user
    assert Counter(status for _, status in got) == {200: 10, 409: 40}  # ten cases: one each
    held = _open_claims(svc)
    assert all(held[n] == 1 for n in names), held
