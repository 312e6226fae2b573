"""The console's *Manage* page in a real headless Chromium, on SQLite and PostgreSQL.

The lead logs in, adds a user (the token shown once), adds cases from a folder of the repository's
test DICOM (the 3-slice CT) and watches the job's page reload until it is done, starts an export
and downloads its zip. :func:`manage_in_browser` is also what ``scripts/screenshots_manage.py``
runs to make ``docs/screenshots/manage*.png``. Without chromium the test is skipped, except
under ``CI`` where it fails (``scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from team_helpers import make_project
from test_dashboard import _require_browser, chrome, login, shot, wait
from test_manage import CT3_SERIES, approve_copy

from ctlabel.team import admin

JOB_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def approved_case(tmp_path_factory, philips_template) -> Path:
    """The 5 mm Philips head CT, painted, submitted and approved (``test_manage.approve_copy``)."""
    return approve_copy(philips_template, tmp_path_factory.mktemp("approved") / philips_template.name)


def manage_project(root: Path, approved_case: Path, url: str | None = None):
    """A project holding one approved case, and its lead's token."""
    svc = make_project(root, url)
    dest = svc.cases_dir / approved_case.name
    shutil.copytree(approved_case, dest)
    admin.register_case(svc, dest)
    return svc, admin.add_user(svc, "boss", "lead")


def _job_done(driver) -> str:
    """The job page's state once it is no longer running (the page reloads itself meanwhile)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, JOB_TIMEOUT_S).until(
        lambda d: d.find_elements("id", "job-state") and d.find_element("id", "job-state").text != "running")
    return driver.find_element("id", "job-state").text


def manage_in_browser(driver, url: str, lead_token: str, folder: Path, downloads: Path | None,
                      screenshots: Path | None = None) -> dict:
    """The lead's steps on the Manage page; returns what the pages showed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    seen: dict = {}
    login(driver, url, lead_token)
    wait(driver, "count-total")
    driver.find_element(By.ID, "manage-link").click()
    wait(driver, "add-user")
    seen["sections"] = [s.get_attribute("id") for s in driver.find_elements(By.CSS_SELECTOR, "main section")]
    shot(driver, screenshots, "manage")
    # a new annotator: the token is on the answer page, once
    driver.find_element(By.ID, "user-name").send_keys("newbie")
    Select(driver.find_element(By.ID, "user-role")).select_by_value("annotator")
    driver.find_element(By.CSS_SELECTOR, "#add-user button").click()
    seen["token"] = wait(driver, "token").text
    driver.find_element(By.LINK_TEXT, "Back to Manage").click()
    seen["manage_after_add"] = wait(driver, "users").text
    # cases from a folder on the server: the job's page follows it to the end
    driver.find_element(By.ID, "source").send_keys(str(folder))
    driver.find_element(By.ID, "add-cases-form-go").click()
    seen["add_state"] = _job_done(driver)
    seen["add_count"] = driver.find_element(By.ID, "job-count").text
    seen["add_summary"] = driver.find_element(By.ID, "job-summary").text
    seen["added"] = driver.find_element(By.ID, "job-added").text
    shot(driver, screenshots, "manage_job_add_cases")
    # an export: progress to done, then the zip
    driver.get(url + "/manage")
    Select(wait(driver, "export-format")).select_by_value("nnunet")
    name = driver.find_element(By.ID, "export-name")
    name.clear()
    name.send_keys("browser-export")
    driver.find_element(By.ID, "export-form-go").click()
    seen["export_state"] = _job_done(driver)
    seen["export_summary"] = driver.find_element(By.ID, "job-summary").text
    seen["export_problems"] = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#job-errors li")]
    shot(driver, screenshots, "manage_job_export")
    if downloads is not None:
        driver.find_element(By.ID, "download").click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (downloads / "browser-export.zip").is_file():
            time.sleep(0.1)
        seen["zip"] = downloads / "browser-export.zip"
    return seen


@pytest.mark.slow
def test_manage_in_chromium(tmp_path, db_url, serve, approved_case):
    _require_browser()
    svc, lead = manage_project(tmp_path / "proj", approved_case, db_url)
    server = serve(tmp_path / "proj")
    downloads, shots = tmp_path / "downloads", tmp_path / "shots"
    downloads.mkdir()
    driver = chrome(downloads)
    try:
        seen = manage_in_browser(driver, server.url, lead, CT3_SERIES, downloads, shots)
    finally:
        driver.quit()
    assert seen["sections"][:3] == ["users", "jobs", "add-cases"] and {"export", "rates", "guidelines"} <= set(
        seen["sections"])
    # the token shown once works, and the users table lists the person without it
    assert httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {seen['token']}"}
                     ).json()["user"] == "newbie"
    assert "newbie annotator active" in seen["manage_after_add"] and seen["token"] not in seen["manage_after_add"]
    # one series converted and registered
    assert seen["add_state"] == "done" and seen["add_count"] == "1 of 1 series"
    assert seen["add_summary"] == "1 case(s) added, 0 already there"
    with svc.read() as db:
        from ctlabel.team.db import CaseRow

        names = {r.name for r in db.query(CaseRow)}
    assert seen["added"] in names and len(names) == 2
    # the approved case exported; the new one refused (not approved), named with its reason
    assert seen["export_state"] == "done"
    assert seen["export_summary"].startswith("1 case(s) exported, 1 refused, to exports/browser-export (nnunet)")
    assert len(seen["export_problems"]) == 1 and seen["added"] in seen["export_problems"][0]
    members = zipfile.ZipFile(seen["zip"]).namelist()
    assert "browser-export/ctlabel_manifest.json" in members
    assert sum(m.startswith("browser-export/imagesTr/") for m in members) == 1
    assert seen["zip"].read_bytes() == (tmp_path / "proj" / "exports" / "browser-export.zip").read_bytes()
    for name in ("manage", "manage_job_add_cases", "manage_job_export"):
        png = shots / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 10_000, name
