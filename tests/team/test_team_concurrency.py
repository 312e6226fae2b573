"""Concurrency: 60 client processes claim at once from 20 cases; each case is claimed exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select
from team_helpers import make_project

from ctlabel.team import admin
from ctlabel.team.db import Assignment, CaseRow, Event

CLIENTS = 60
CASES = 20

# stdlib only, so that 60 processes start fast; all wait for the same moment, then claim
CLAIM = r"""
import json, sys, time, urllib.request, urllib.error
url, token, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start:
    time.sleep(0.002)
req = urllib.request.Request(url + "/api/v1/cases/next", method="POST",
                             headers={"Authorization": "Bearer " + token})
try:
    with urllib.request.urlopen(req, timeout=120) as r:
        print(json.dumps({"status": r.status, "case": json.load(r)["case"]}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "detail": json.load(e).get("detail")}))
"""


@pytest.mark.slow
def test_team_concurrent_claims(tmp_path, db_url, serve, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=CASES, open_limit=1)
    tokens = [admin.add_user(svc, f"a{i:02d}", "annotator") for i in range(CLIENTS)]
    server = serve(svc.root)
    start = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM, server.url, t, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for t in tokens]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    statuses = Counter(r["status"] for r in results)
    claimed = [r["case"] for r in results if r["status"] == 200]
    assert statuses == {200: CASES, 404: CLIENTS - CASES}, statuses
    assert len(set(claimed)) == CASES  # no case given twice, none lost
    with svc.tx() as db:
        rows = list(db.scalars(select(CaseRow)))
        assert len(rows) == CASES and all(r.annotator_id is not None for r in rows)
        assert len({r.annotator_id for r in rows}) == CASES  # one case per annotator (limit 1)
        opened = Counter(a.case_id for a in db.scalars(select(Assignment).where(Assignment.status == "open")))
        assert sorted(opened.values()) == [1] * CASES
        assert len(list(db.scalars(select(Event).where(Event.kind == "claim")))) == CASES
    # a second round: everyone asks again; the holders are at their limit, nobody gets a second case
    again = subprocess.run([sys.executable, "-c", CLAIM, server.url, tokens[0], "0"], capture_output=True, text=True)
    assert json.loads(again.stdout)["status"] in (404, 409)
