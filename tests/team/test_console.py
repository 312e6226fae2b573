"""The lead's console (issue 20): stages, forecast, who holds what, alerts, case labels, thumbnails, history.

The figures are tested on the core functions (``ctlabel.team.console_data``, ``console_alerts``,
``case_labels``, ``thumbnails``, ``case_story``) on SQLite and PostgreSQL, after one scripted
team day through the real server; the pages in a real headless Chromium
(``test_dashboard.py``'s harness).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from served import DATABASES, served_project
from team_helpers import brain_mask_bytes, make_project
from test_dashboard import _require_browser, chrome, login, wait

from ctlabel.team import admin, case_labels, console_alerts, console_data, thumbnails
from ctlabel.team.case_story import describe
from ctlabel.team.client import Client
from ctlabel.team.db import CaseRow, utcnow


def air_mask_bytes(case_dir: Path) -> bytes:
    """Label 1 (soft tissue) on air of one slice: a QA error (``soft_tissue_on_air``), submitted only by force."""
    import nibabel as nib

    img = nib.load(case_dir / "ct.nii.gz")
    hu = np.asanyarray(img.dataobj)
    mask = np.zeros(img.shape, np.uint8)
    mask[:, :, 12] = np.where(hu[:, :, 12] < -900, 1, 0)
    return gzip.compress(nib.Nifti1Image(mask, img.affine).to_bytes(), compresslevel=1)


def _work(ann: Client, work: Path, mask=brain_mask_bytes) -> str:
    name = ann.next_case()["case"]
    folder = ann.download(name, work)
    (folder / "masks" / "draft_dseg.nii.gz").write_bytes(mask(folder))
    ann.upload_draft(folder)
    return name


def team_day(svc, url: str, tokens: dict, work: Path) -> dict:
    """Eight cases into eight stages through the real server (also ``scripts/screenshots_team.py``):
    approved, rejected twice, submitted, in review (submitted past a QA error), claimed by a person whose
    token is then revoked, in progress (lease ending in 10 min), flagged with a reason, never claimed.
    Returns the case of each stage."""
    ann, ann2, rev = (Client(url, tokens[n]) for n in ("ann", "ann2", "rev"))
    c = {"approved": _work(ann, work)}
    ann.submit(c["approved"])
    assert rev.review_next()["case"] == c["approved"]
    rev.approve(c["approved"], "good")
    c["rejected"] = _work(ann, work)
    ann.submit(c["rejected"])
    c["in_review"] = _work(ann, work, air_mask_bytes)
    ann.submit(c["in_review"], force=True)  # past a QA error; the oldest submission: the reviewer takes it next
    c["submitted"] = _work(ann, work)
    ann.submit(c["submitted"])
    c["in_progress"] = ann.next_case()["case"]
    ann.heartbeat(c["in_progress"])
    c["claimed"] = ann2.next_case()["case"]  # claimed after that heartbeat: each case's own claim counts
    c["flagged"] = ann.next_case()["case"]
    ann.flag(c["flagged"], "motion artefact <b>unusable</b>")
    rev.reject(c["rejected"], "the ventricle is missing", [{"slice": 11, "label": 1, "note": "add it"}])
    assert ann.next_case()["case"] == c["rejected"]  # rework first
    folder = ann.download(c["rejected"], work)
    (folder / "masks" / "draft_dseg.nii.gz").write_bytes(brain_mask_bytes(folder, slices=(10, 11, 12, 13)))
    ann.upload_draft(folder)
    ann.submit(c["rejected"])
    rev.reject(c["rejected"], "still missing")
    assert rev.review_next()["case"] == c["in_review"]
    with svc.tx() as db:  # ann2's token is revoked while they hold a case; the in-progress lease ends in 10 minutes
        from ctlabel.team.db import User

        db.query(User).filter_by(name="ann2").one().active = False
        row = db.query(CaseRow).filter_by(name=c["in_progress"]).one()
        row.lease_until = utcnow() + dt.timedelta(minutes=10)
    c["available"] = next(n for n in _names(svc) if n not in c.values())
    return c


def team_users(svc) -> dict:
    """A lead, three annotators (one who never does anything) and a reviewer; their tokens."""
    return {n: admin.add_user(svc, n, r) for n, r in (("boss", "lead"), ("ann", "annotator"), ("ann2", "annotator"),
                                                     ("idle", "annotator"), ("rev", "reviewer"))}


@pytest.fixture(scope="module", params=DATABASES)
def scene(request, tmp_path_factory, philips_template):
    """:func:`team_day` on a served project of eight copies of the Philips head CT."""
    gen = served_project(request, tmp_path_factory, philips_template, n_cases=8, open_limit=8)
    svc, server = next(gen)
    tokens = team_users(svc)
    c = team_day(svc, server.url, tokens, tmp_path_factory.mktemp("work"))
    yield svc, server, tokens, c
    next(gen, None)


def _names(svc) -> list[str]:
    with svc.tx() as db:
        return sorted(r.name for r in db.query(CaseRow))


def _summary_counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'id="count-([a-z_]+)"[^>]*>(?:<i[^>]*></i>)?<b>(\d+)</b>', html)}


# --- the "8 in progress" bug: a fresh project ------------------------------------------------------------
def test_fresh_project_is_available_not_in_progress(tmp_path, db_url, philips_template):
    """A registered case is in_progress in its case.json; nobody claimed it, so it is available (it showed as
    '8 in progress' on a fresh project)."""
    from fastapi.testclient import TestClient

    from ctlabel.team.api import create_app

    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=3)
    lead = admin.add_user(svc, "boss", "lead")
    html = TestClient(create_app(svc)).get("/", headers={"Authorization": f"Bearer {lead}"}).text
    counts = _summary_counts(html)
    assert counts["in_progress"] == 0 and counts["available"] == 3 and counts["total"] == 3, counts
    prog = console_data.progress(svc)
    assert prog.stages == {**{s: 0 for s in console_data.STAGES}, "available": 3} and prog.never_claimed == 3
    assert console_data.forecast(svc, prog).finish is None  # nothing approved yet: no projection
    svc.engine.dispose()


# --- the figures, without a browser ---------------------------------------------------------------------
def test_stages_queue_and_forecast(scene):
    svc, _server, _tokens, c = scene
    prog = console_data.progress(svc)
    # one case in each stage but 'accepted' (by the review policy: tests/team/test_review_policy.py)
    assert prog.stages == {**{s: 1 for s in console_data.STAGES}, "accepted": 0}, prog.stages
    assert prog.never_claimed == 1 and prog.total == 8 and prog.remaining == 6
    fc = console_data.forecast(svc, prog)
    # one approval in the last 7 days: 1/7 a day, 6 cases left: 42 days
    assert fc.approved_recent == 1 and fc.finish == fc.today + dt.timedelta(days=42)
    q = console_data.review_queue(svc)
    assert (q.waiting, q.in_review, q.oldest_case) == (1, 1, c["submitted"])
    assert 0 <= (utcnow() - q.oldest_submit).total_seconds() < 600
    days, series = console_data.throughput(svc)
    today = days.index(dt.datetime.now(dt.UTC).date())
    assert (series["submitted"][today], series["rejected"][today], series["approved"][today]) == (5, 2, 1)
    # the case table filters by stage
    from ctlabel.team import dashboard_data

    assert dashboard_data.case_page(svc, stage="accepted")["rows"] == []
    for stage in (s for s in console_data.STAGES if s != "accepted"):
        rows = dashboard_data.case_page(svc, stage=stage)["rows"]
        assert [r["case"] for r in rows] == [c[stage]]
        assert rows[0]["stage"] == stage


def test_people_now(scene):
    svc, _server, _tokens, c = scene
    people = {p.user: p for p in console_data.people_now(svc)}
    assert set(people) == {"ann", "ann2", "idle", "rev"}  # idle did nothing and is listed; the lead holds nothing
    assert people["idle"].last_activity is None and people["idle"].holds == []
    assert sorted(people["ann"].holds) == sorted([c["rejected"], c["in_progress"]])
    assert people["ann"].lease_until is not None and people["ann"].lease_until < utcnow() + dt.timedelta(minutes=11)
    assert people["ann2"].holds == [c["claimed"]] and not people["ann2"].active
    assert people["rev"].reviews == [c["in_review"]]
    assert utcnow() - people["rev"].last_activity < dt.timedelta(minutes=10)


def test_alerts(scene):
    svc, _server, _tokens, c = scene
    got = {(a.kind, a.case) for a in console_alerts.alerts(svc)}
    assert got == {("flagged", c["flagged"]), ("forced", c["in_review"]), ("revoked", c["claimed"]),
                   ("rejected", c["rejected"]), ("lease", c["in_progress"])}, got
    by = {a.kind: a for a in console_alerts.alerts(svc)}
    assert "motion artefact <b>unusable</b>" in by["flagged"].text
    assert by["forced"].text.startswith("ann submitted past 1 QA error(s)") and "air" in by["forced"].text
    assert "ann2" in by["revoked"].text and "rejected 2 times" in by["rejected"].text
    assert "lease ends in" in by["lease"].text
    # nothing done for a while: every held, submitted or rejected case is stalled
    time.sleep(0.5)
    stalled = {a.case for a in console_alerts.alerts(svc, stall_hours=0.0001) if a.kind == "stalled"}
    assert stalled == {c[s] for s in ("claimed", "in_progress", "submitted", "in_review", "rejected")}


def test_labels_search_and_history(scene):
    svc, _server, _tokens, c = scene
    from ctlabel.team import dashboard_data

    names = _names(svc)
    with svc.tx() as db:
        paths = {r.name: r.path for r in db.query(CaseRow)}
    labels = case_labels.labels(svc.root, paths)
    label = labels[names[0]]
    # the Philips head: its cleaned series description, 28 slices of 0.451 x 0.451 x 5 mm, 231 x 231 x 140 mm
    assert label == "STD BRAIN 5MM · 28 slices · 0.451×0.451×5 mm · 231×231×140 mm", label
    assert (svc.root / case_labels.CACHE).exists()
    assert dashboard_data.case_page(svc, q="brain 5mm")["total"] == 8
    assert dashboard_data.case_page(svc, q=c["flagged"][-6:])["rows"][0]["case"] == c["flagged"]
    assert dashboard_data.case_page(svc, q="no such thing")["total"] == 0
    # history: names and sentences, not ids and reprs
    hist = dashboard_data.case_history(svc, c["rejected"])
    from ctlabel.team.case_story import server_rows

    with svc.tx() as db:
        from ctlabel.team.db import User

        users = {u.id: u.name for u in db.query(User)}
    rows = server_rows(hist["events"], users)
    whats = [r.what for r in rows]
    assert whats[:3] == ["claimed it", "saved a draft", "submitted v001"], whats
    assert "submitted v002 (resubmission)" in whats and whats.count("rejected v001") == 1
    rej = next(r for r in rows if r.what == "rejected v001")
    assert rej.who == "rev" and rej.comment == "the ventricle is missing | marks: slice 11, label 1: add it"
    assert describe("approve", {"annotator_id": 2, "reviews": {"4": 1}}, {2: "ann", 4: "rev"}) == \
        ("approved (earlier reviews: rev ×1)", "")


# --- thumbnails -------------------------------------------------------------------------------------------
def _png_pixels(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        n = struct.unpack(">I", png[pos:pos + 4])[0]
        chunks.setdefault(png[pos + 4:pos + 8], b"")
        chunks[png[pos + 4:pos + 8]] += png[pos + 8:pos + 8 + n]
        pos += 12 + n
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}  # no text chunks
    w, h = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, w + 1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:]


def test_thumbnail_orientation_window_and_cache(tmp_path):
    """A marker at the patient's right-anterior shows top left (radiological view), whatever the voxel order."""
    import nibabel as nib

    for name, affine in (("ras", np.diag([1.0, 1.0, 2.0, 1.0])), ("lps", np.diag([-1.0, -1.0, 2.0, 1.0]))):
        case = tmp_path / name
        case.mkdir()
        vol = np.full((40, 40, 9), -1000, np.int16)
        ras = np.zeros((40, 40), bool)
        ras[30:38, 30:38] = True  # right-anterior corner in RAS voxel order (+x = right, +y = anterior)
        vol[:, :, 4][ras if name == "ras" else ras[::-1, ::-1]] = 40
        nib.save(nib.Nifti1Image(vol, affine), case / "ct.nii.gz")
        (case / "ct.json").write_text(json.dumps({"Geometry": {"Shape": [40, 40, 9], "Spacing": [1, 1, 2]},
                                                  "Source": {"SeriesDescription": "BODY"}}))
        px = _png_pixels(thumbnails.thumbnail(tmp_path, name, case))
        assert px.shape == (160, 160)
        top_left, bottom_right = px[:60, :60], px[100:, 100:]
        assert top_left.max() == 127  # 40 HU in the middle of the window (a 40 mm field: the brain window, L 40)
        assert bottom_right.max() == 0, name
        assert (tmp_path / thumbnails.THUMBS / f"{name}.png").exists()
    # a source that may carry burned-in text gets no thumbnail
    meta = json.loads((tmp_path / "ras" / "ct.json").read_text())
    meta["Source"]["BurnedInText"] = "YES"
    (tmp_path / "ras" / "ct.json").write_text(json.dumps(meta))
    assert thumbnails.render(tmp_path / "ras") is None
    assert thumbnails.window_of("STD BRAIN 5MM", 231) == (80.0, 40.0)
    assert thumbnails.window_of("CT Body", 500) == (400.0, 40.0)


def test_integer_ticks():
    from ctlabel.team.dashboard_views import int_ticks

    assert int_ticks(0) == [0, 1] and int_ticks(1) == [0, 1] and int_ticks(3) == [0, 1, 2, 3]
    assert int_ticks(7) == [0, 2, 4, 6, 8] and int_ticks(23) == [0, 5, 10, 15, 20, 25]
    for high in range(0, 3000, 7):
        t = int_ticks(high)
        assert t[0] == 0 and t[-1] >= high and len(t) <= 6 and len(set(np.diff(t))) == 1


# --- the pages in Chromium ------------------------------------------------------------------------------
@pytest.mark.slow
def test_console_in_chromium(scene):
    _require_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    svc, server, tokens, c = scene
    driver = chrome()
    try:
        login(driver, server.url, tokens["boss"])
        wait(driver, "progress")
        counts = {el.get_attribute("id")[6:]: int(el.find_element(By.TAG_NAME, "b").text)
                  for el in driver.find_elements(By.CSS_SELECTOR, ".count")}
        assert counts == {**{s: 1 for s in console_data.STAGES}, "accepted": 0, "total": 8}
        assert driver.find_element(By.ID, "never-claimed").text == "1 never claimed"
        segs = driver.find_elements(By.CSS_SELECTOR, "svg#progress rect.seg")
        assert len(segs) == 8
        assert "projected finish" in driver.find_element(By.ID, "forecast").text
        ticks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg#throughput text.tick")]
        assert ticks == [str(i) for i in range(6)], ticks  # 5 submissions today: 0..5, integers
        alerts = driver.find_elements(By.CSS_SELECTOR, "table.alerts tbody tr")
        assert len(alerts) == 5
        flagged = next(tr for tr in alerts if "flagged" in tr.text)
        assert "motion artefact <b>unusable</b>" in flagged.text  # escaped, shown as typed
        assert driver.find_element(By.ID, "queue-waiting").text == "1"
        assert driver.find_element(By.ID, "never-active").text == "1"  # idle
        # an alert links to its case; the case page shows the thumbnail, the label and readable history
        flagged.find_element(By.PARTIAL_LINK_TEXT, c["flagged"]).click()
        WebDriverWait(driver, 20).until(lambda d: "/cases/" in d.current_url)
        wait(driver, "case-label")
        img = driver.find_element(By.CSS_SELECTOR, "img.big")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return arguments[0].naturalWidth", img) > 0)
        assert "BRAIN" in driver.find_element(By.ID, "case-label").text
        whats = [tr.find_elements(By.TAG_NAME, "td")[2].text
                 for tr in driver.find_elements(By.CSS_SELECTOR, "table.events tbody tr")]
        assert whats == ["claimed it", "flagged it unusable"]
        when = driver.find_element(By.CSS_SELECTOR, "table.events tbody td span.nw")
        assert when.size["height"] < 30  # one line
        # everybody, also who never did anything, on the people page
        driver.get(server.url + "/people")
        ann = {tr.find_elements(By.TAG_NAME, "td")[0].text: tr.text
               for tr in wait(driver, "table.annotators", By.CSS_SELECTOR).find_elements(By.CSS_SELECTOR,
                                                                                         "tbody tr")}
        assert set(ann) == {"ann", "ann2 revoked", "idle"} and "never" in ann["idle"]
        # the search box filters the cases table by id or label
        driver.get(server.url + "/cases")
        box = wait(driver, "search")
        box.send_keys(c["available"][-8:])
        driver.find_element(By.CSS_SELECTOR, "#filter button").click()
        WebDriverWait(driver, 20).until(lambda d: "q=" in d.current_url)
        assert wait(driver, "total").text == "1 case(s)"
        rows = driver.find_elements(By.CSS_SELECTOR, "table.cases tbody tr")
        assert len(rows) == 1 and "available" in rows[0].text and "28 slices" in rows[0].text
        driver.get(server.url + "/cases?q=BRAIN")
        assert wait(driver, "total").text == "8 case(s)"
        driver.get(server.url + "/alerts?stall_hours=0.0001")
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.alerts tbody tr")) == 10
    finally:
        driver.quit()


def test_pages_escape_and_refuse(scene):
    """The thumbnail is the lead's only; a case id that is not one is 404; nothing unescaped from a reason."""
    import httpx

    svc, server, tokens, c = scene
    url = f"{server.url}/cases/{c['available']}/thumb.png"
    assert httpx.get(url, headers={"Authorization": f"Bearer {tokens['ann']}"}).status_code == 403
    r = httpx.get(url, headers={"Authorization": f"Bearer {tokens['boss']}"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert _png_pixels(r.content).std() > 10  # an image, not a blank
    assert httpx.get(f"{server.url}/cases/nope/thumb.png",
                     headers={"Authorization": f"Bearer {tokens['boss']}"}).status_code == 404
    page = httpx.get(server.url + "/", headers={"Authorization": f"Bearer {tokens['boss']}"}).text
    assert "<b>unusable</b>" not in page and "&lt;b&gt;unusable&lt;/b&gt;" in page
    assert "<script" not in page


def test_png_gray_roundtrip():
    px = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(7, 12)
    assert (_png_pixels(thumbnails.png_gray(px)) == px).all()
