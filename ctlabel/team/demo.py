"""``ctlabel team demo``: a local demo team on the sample data, served on 127.0.0.1.

Makes a project (a temporary folder, or ``--dir``) with the sample cases from
``sample_data/`` (the 20-slice TotalSegmentator body CT and the 5 mm Philips head CT), a
lead, an annotator and a reviewer, prints the dashboard's URL and the three tokens, and
serves until interrupted. A ``--dir`` that is already a team project is served again with
new tokens for the three demo users.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ctlabel.errors import CaseError

if TYPE_CHECKING:
    from ctlabel.team.service import Service

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
USERS = (("lead", "lead"), ("annotator", "annotator"), ("reviewer", "reviewer"))


def make_demo(folder: str | Path | None = None, progress: bool = False) -> tuple[Service, dict[str, str]]:
    """Make (or reuse) the demo project; return its Service and the tokens by user name."""
    from ctlabel.team import admin
    from ctlabel.team import project as layout
    from ctlabel.team.errors import NotFound
    from ctlabel.team.service import Service

    sources = [SAMPLES / "totalseg_body_ct" / "dicom", SAMPLES / "philips_ct_5mm"]
    if not all(s.is_dir() for s in sources):
        raise CaseError("the sample data is not installed (it ships in the source repository)", SAMPLES)
    root = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="ctlabel-team-demo-"))
    if (root / layout.CONFIG).exists():
        svc = Service(root)
        tokens = {}
        for name, role in USERS:
            try:
                tokens[name] = admin.rotate(svc, name)
            except NotFound:  # a project made otherwise: add the demo user
                tokens[name] = admin.add_user(svc, name, role)
        return svc, tokens
    svc = admin.init_project(root, name="demo")
    admin.add_cases(svc, [str(s) for s in sources], jobs=1, progress=progress)
    tokens = {name: admin.add_user(svc, name, role) for name, role in USERS}
    admin.set_rates(svc, {"annotation": 500, "review": 100, "rework": 150})
    return svc, tokens


def cmd_demo(args: argparse.Namespace) -> int:
    """``ctlabel team demo``: make a demo team project on the sample data, print its URL and tokens, serve it.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (``dir``, ``port``, ``json``).

    Returns
    -------
    int
        0, after the server stops.
    """
    from ctlabel.team.api import serve

    svc, tokens = make_demo(args.dir, progress=not args.json)
    url = f"http://127.0.0.1:{args.port}/"
    info = {"project": str(svc.root), "dashboard": url, "server": url.rstrip("/"), "tokens": tokens}
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        print(f"demo team project: {svc.root}\n"
              f"dashboard (log in with the lead token): {url}\n"
              + "".join(f"  {n:<10} {t}\n" for n, t in tokens.items())
              + f"annotator: ctlabel team login {url.rstrip('/')} --token {tokens['annotator']} && "
              "ctlabel team next --dir work/\n(Ctrl+C stops the server)", flush=True)
    serve(svc, "127.0.0.1", args.port)
    return 0


def register(add) -> None:
    """Add ``demo`` to ``ctlabel team`` (``add`` is :func:`ctlabel.cli.team.register`'s helper)."""
    p = add("demo", cmd_demo, "a local demo team on the sample data: prints the dashboard URL and tokens, serves")
    p.add_argument("--port", type=int, default=8765, help="port of the demo server (default 8765)")
    p.add_argument("--dir", metavar="PROJECT", help="the project folder (default: a new temporary folder)")


__all__ = ["cmd_demo", "make_demo", "register"]
