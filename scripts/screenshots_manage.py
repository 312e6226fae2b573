"""Screenshots of the console's Manage page for the docs, made by the steps of its browser test.

Builds a project holding one approved copy of the 5 mm Philips head CT, serves it on a free
loopback port, and drives headless Chromium at 1280 px wide through
``tests/team/test_manage_chromium.py``'s ``manage_in_browser``: log in, add a user, add cases
from the repository's 3-slice CT folder, export to nnU-Net. Saves ``manage.png`` (the page),
``manage_job_add_cases.png`` and ``manage_job_export.png`` (the jobs, done, the export's download link).

Usage: ``.venv/bin/python scripts/screenshots_manage.py [--out docs/screenshots]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "team"))
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    """Make the screenshots; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    args = ap.parse_args(argv)
    from team_helpers import PHILIPS_5MM, Server
    from test_dashboard import chrome
    from test_manage import CT3_SERIES, approve_copy
    from test_manage_chromium import manage_in_browser, manage_project

    from ctlabel.intake.convert import ConvertOptions, convert

    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="ctlabel-shots-") as tmp:
        tmp = Path(tmp)
        converted = Path(convert([PHILIPS_5MM], tmp / "conv", jobs=1, options=ConvertOptions(),
                                 progress=False).converted[0]["case"])
        approved = approve_copy(converted, tmp / "approved" / converted.name)
        svc, lead = manage_project(tmp / "proj", approved)
        server = Server(tmp / "proj").start()
        driver = None
        try:
            driver = chrome(width=1280, height=800)
            manage_in_browser(driver, server.url, lead, CT3_SERIES, None, screenshots=out)
        finally:
            if driver is not None:
                driver.quit()
            server.stop()
            svc.engine.dispose()
    print(f"screenshots in {out}: manage.png, manage_job_add_cases.png, manage_job_export.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
