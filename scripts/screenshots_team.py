"""Screenshots of the lead's dashboard for the docs, made by the same steps as its browser test.

Builds a team project on the 5 mm Philips head CT sample (three cases), serves it on a free
loopback port, runs the scripted cycle (claim, upload, submit, reject, resubmit, approve through
``ctlabel.team.Client``), then drives headless Chromium through
``tests/team/test_dashboard.py``'s ``drive`` and saves ``dashboard.png``, ``dashboard_cases.png``
and ``dashboard_case.png``.

Usage: ``.venv/bin/python scripts/screenshots_team.py [--out docs/screenshots]``
"""

from __future__ import annotations

import argparse
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
    from team_helpers import Server
    from test_dashboard import build_team, chrome, cycle, drive

    from ctlabel.convert import ConvertOptions, convert

    with tempfile.TemporaryDirectory(prefix="ctlabel-shots-") as tmp:
        tmp = Path(tmp)
        rep = convert([ROOT / "sample_data" / "philips_ct_5mm"], tmp / "template", jobs=1,
                      options=ConvertOptions(), progress=False)
        svc, tokens = build_team(tmp / "proj", Path(rep.converted[0]["case"]))
        server = Server(tmp / "proj").start()
        driver = None
        try:
            cases = cycle(svc, server.url, tokens, tmp / "work")
            driver = chrome()
            drive(driver, server.url, tokens, cases, screenshots=Path(args.out))
        finally:
            if driver is not None:
                driver.quit()
            server.stop()
            svc.engine.dispose()
    print(f"screenshots in {args.out}: dashboard.png, dashboard_cases.png, dashboard_case.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
