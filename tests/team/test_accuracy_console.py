"""The lead's accuracy page (/accuracy) and the accuracy alert, over HTTP against the real app; SQLite and PostgreSQL.

The page lists each annotator-label worst first with the figures of ctlabel.team.accuracy, the forms are
CSRF-checked and call the core (the threshold; Gold.add/remove; the gold rate), values are escaped, and an
annotator below the threshold raises an alert on the dashboard that links to the page.
"""

from __future__ import annotations

import random
import re

from accuracy_plant import plant
from fastapi.testclient import TestClient
from team_helpers import brain_mask_bytes, make_project

from ctlabel.team import accuracy as team_accuracy
from ctlabel.team import admin, console_alerts, uploads
from ctlabel.team.api import create_app
from ctlabel.team.db import User


def _approved_case(svc, tmp_path) -> str:
    """A real case annotated by ann0 and approved by rev (what a gold case must be)."""
    with svc.read() as db:
        ann, rev = (db.query(User).filter(User.name == n).one() for n in ("ann0", "rev"))
        db.expunge_all()
    info = svc.claims.claim_next(ann)
    name = info["case"]
    body = tmp_path / "m.nii.gz"
    body.write_bytes(brain_mask_bytes(svc.cases_dir / name))
    uploads.store_upload(svc, ann, name, body, info["etag"])
    svc.claims.submit(ann, name)
    assert svc.reviews.review_next(rev)["case"] == name
    svc.reviews.approve(rev, name)
    return name


def test_accuracy_page_forms_and_alert(tmp_path, db_url, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=1)
    svc.gold.rng = random.Random(1)
    plan = plant(svc, seed=4)
    lead = admin.add_user(svc, "boss", "lead")
    ann_token = admin.add_user(svc, "ann9", "annotator")
    web = TestClient(create_app(svc))
    assert web.get("/accuracy", headers={"Authorization": f"Bearer {ann_token}"}).status_code == 403
    assert web.post("/login", data={"token": lead}, follow_redirects=False).status_code == 303

    page = web.get("/accuracy").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    assert "No threshold set" in page and "<script" not in page and 'tag-flagged">below' not in page
    accs = team_accuracy.annotator_accuracy(svc)
    order = [a for a in team_accuracy.worst_first(accs) if team_accuracy.measured(a)]
    ids = re.findall(r'id="acc-([^"]+)"', page)
    assert ids == [f"{a.annotator}-{a.label}" for a in order]  # worst first
    worst = order[0]
    assert f"<b>{worst.estimate.mean:.3f}</b> [{worst.estimate.low:.3f}, {worst.estimate.high:.3f}]" in page
    assert f"{worst.gold.mean:.3f}" in page and page.count('<svg class="trend"') == len(order)
    assert all(g in page for g in plan.gold_cases) and "gold-remove-" in page
    assert console_alerts.accuracy_alerts(svc) == []  # no threshold: no alert

    # the threshold: refused without the CSRF token, then set through the form
    r = web.post("/accuracy/threshold", data={"threshold": "0.7"}, follow_redirects=False)
    assert r.status_code == 403 and team_accuracy.threshold(svc) is None
    r = web.post("/accuracy/threshold", data={"threshold": "0.7", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and team_accuracy.threshold(svc) == 0.7
    r = web.post("/accuracy/threshold", data={"threshold": "7", "csrf": csrf})
    assert "(0, 1]" in r.text and team_accuracy.threshold(svc) == 0.7
    page = web.get("/accuracy").text
    low = team_accuracy.below(accs, 0.7)
    assert low and page.count('tag-flagged">below') == len(low)
    assert {(b.annotator, b.label) for b in low} == {("ann2", 1), ("ann2", 2)}  # planted around 0.6

    # the alert: one per annotator-label below, linking to its row on the page
    alerts = [a for a in console_alerts.alerts(svc) if a.kind == "accuracy"]
    assert [(a.link, a.case) for a in alerts] == [(f"/accuracy#acc-{b.annotator}-{b.label}", "") for b in low]
    assert all("below the threshold 0.7" in a.text for a in alerts)
    summary = web.get("/").text
    assert 'href="/accuracy#acc-ann2-1"' in summary and "accuracy low" in summary
    assert 'href="/accuracy"' in summary  # the navigation

    # gold cases from the page: a case not approved is refused with the reason; an approved one is added, removed
    r = web.post("/accuracy/gold/add", data={"cases": plan.servings[0], "csrf": csrf})
    assert 'id="err"' in r.text and "serving of a gold case" in r.text
    name = _approved_case(svc, tmp_path)
    r = web.post("/accuracy/gold/add", data={"cases": name, "csrf": csrf})
    assert 'id="msg"' in r.text and name in [g["case"] for g in svc.gold.cases()]
    r = web.post("/accuracy/gold/remove", data={"cases": name, "csrf": csrf})
    assert "no longer gold" in r.text and name not in [g["case"] for g in svc.gold.cases()]
    r = web.post("/accuracy/gold/rate", data={"rate": "0.1", "csrf": csrf})
    assert svc.gold.rate() == 0.1 and 'id="gold-rate-now">0.1<' in r.text
    r = web.post("/accuracy/gold/rate", data={"rate": "x", "csrf": csrf})
    assert svc.gold.rate() == 0.1 and 'id="err"' in r.text

    # escaped: a message in the query is text, never markup
    page = web.get("/accuracy", params={"err": "<b>x</b>"}).text
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
