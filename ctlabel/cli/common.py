"""Helpers shared by the command modules: argument types, output, and the team commands' connections.

Every module of ``ctlabel/cli`` may import this one; it imports none of them, so the command
modules never import each other for a helper.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ctlabel.errors import InputError


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def env_value(var: str | None, what: str) -> str | None:
    """The value of the environment variable ``var`` that an option named (``what``); None without one."""
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise InputError(f"{what}: the environment variable {var} is not set")
    return value


def out(args: argparse.Namespace, data: Any, text: str) -> int:
    """Print ``data`` as JSON with ``--json``, else ``text``; exit code 0."""
    print(json.dumps(data, indent=2) if args.json else text)
    return 0


def case_id(arg: str) -> str:
    """A team case id, or the folder of a downloaded case (its ``.team.json`` names the id)."""
    p = Path(arg)
    if p.is_dir() and (p / ".team.json").is_file():
        return json.loads((p / ".team.json").read_text(encoding="utf-8"))["Case"]
    return arg


def team_client(args: argparse.Namespace) -> Any:
    """The team server client of the saved login (``ctlabel team login``)."""
    from ctlabel.team.client import Client
    from ctlabel.team.login import load_login

    try:
        url, token = load_login()
    except InputError as exc:  # the core says to log in; the command says how
        raise InputError(f"{exc.reason} (ctlabel team login URL --token T)", exc.path) from None
    return Client(url, token, progress=sys.stderr.isatty() and not args.json)


def team_service(args: argparse.Namespace) -> Any:
    """The service of the project folder ``args.project`` (lead commands, on the server's machine)."""
    from ctlabel.team.service import Service

    return Service(args.project)
