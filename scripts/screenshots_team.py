"""Screenshots of the lead's dashboard for the docs, made by the same steps as its browser tests.

Builds a team project of eight cases, four copies of the 5 mm Philips head CT and four of the
20-slice body CT (``sample_data/``), serves it on a free loopback port, runs
``tests/team/test_console.py``'s ``team_day`` (through ``ctlabel.team.Client``: cases approved,
rejected twice, submitted, in review past a QA error, claimed by a person then revoked, in
progress, flagged with a reason, never claimed), then drives headless Chromium at 1280 px wide
through ``tests/team/test_dashboard.py``'s ``drive`` and the alerts page, and saves
``dashboard.png`` (summary), ``dashboard_people.png``, ``dashboard_cases.png``,
``dashboard_case.png`` and ``dashboard_alerts.png``.

Usage: ``.venv/bin/python scripts/screenshots_team.py [--out docs/screenshots]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "team"))


def main(argv: list[str] | None = None) -> int:
    """Make the screenshots; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    args = ap.parse_args(argv)
    from team_helpers import Server, make_project
    from test_console import team_day, team_users
    from test_dashboard import chrome, drive, shot, wait

    from ctlabel.intake.convert import ConvertOptions, convert
    from ctlabel.team import admin

    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="ctlabel-shots-") as tmp:
        tmp = Path(tmp)
        head, body = (Path(convert([ROOT / "sample_data" / name], tmp / name, jobs=1, options=ConvertOptions(),
                                   progress=False).converted[0]["case"])
                      for name in ("philips_ct_5mm", "totalseg_body_ct"))
        svc = make_project(tmp / "proj", None, head, n_cases=4, open_limit=8)
        for i in range(4):
            dest = svc.cases_dir / f"{body.name[:20]}_c{i:03d}"
            shutil.copytree(body, dest)
            admin.register_case(svc, dest)
        tokens = team_users(svc)
        admin.set_rates(svc, {"annotation": 500, "review": 100, "rework": 150})
        server = Server(tmp / "proj").start()
        driver = None
        try:
            cases = team_day(svc, server.url, tokens, tmp / "work")
            driver = chrome(width=1280, height=800)
            drive(driver, server.url, tokens, cases, screenshots=out)
            driver.get(server.url + "/alerts")
            wait(driver, "stall")
            shot(driver, out, "dashboard_alerts")
        finally:
            if driver is not None:
                driver.quit()
            server.stop()
            svc.engine.dispose()
    print(f"screenshots in {out}: dashboard.png, dashboard_people.png, dashboard_cases.png, dashboard_case.png, "
          "dashboard_alerts.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
