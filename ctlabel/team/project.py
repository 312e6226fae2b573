"""The project folder of a team server and what ``team init`` / ``team add-cases`` write.

Layout::

    PROJECT/
      team.json          name and database URL (none: SQLite team.db here)
      team.db            the SQLite database (default)
      labels.tsv         the project's label table (every case gets it)
      guidelines.md      labeling guidelines clients can fetch
      cases/             case folders (ctlabel.case.folder), each registered in the database
      cases/.ctlabel-team  marker: local ctlabel submit/approve/import refuse these cases
      tmp/               uploads being received (same file system as cases/)
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ctlabel.errors import CaseError, InputError
from ctlabel.io.atomic import write_json

CONFIG = "team.json"
CASES = "cases"
MARKER = ".ctlabel-team"
GUIDELINES = "guidelines.md"
LABELS = "labels.tsv"
TMP = "tmp"
_CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def read_config(project: str | os.PathLike) -> dict:
    """``team.json`` of a project; CaseError when the folder is not a team project."""
    path = Path(project) / CONFIG
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseError("not a team project (no team.json); make one with 'ctlabel team init'", project) from None
    except ValueError as exc:
        raise CaseError(f"team.json is not readable JSON ({exc})", path) from None


def write_layout(project: Path, name: str, url: str | None) -> None:
    """Create the folders, the marker and ``team.json`` of a new project."""
    if (project / CONFIG).exists():
        raise CaseError("is a team project already", project)
    (project / CASES).mkdir(parents=True, exist_ok=True)
    (project / TMP).mkdir(exist_ok=True)
    write_json(project / CASES / MARKER, {"TeamProject": name, "Note": "cases of a served team project: use "
                                          "'ctlabel team' commands, not local submit/approve/import"})
    if not (project / GUIDELINES).exists():
        (project / GUIDELINES).write_text(f"# {name}: labeling guidelines\n\n(The lead has not written them yet.)\n",
                                          encoding="utf-8")
    write_json(project / CONFIG, {"Name": name, "Database": url})


def check_case_name(name: str) -> str:
    """A case id from a client: a plain folder name (no separators, no ``..``), else InputError."""
    if not isinstance(name, str) or not _CASE_NAME.match(name) or ".." in name:
        raise InputError(f"not a case id: {name!r}")
    return name


def case_folder(project: Path, relative: str) -> Path:
    """The case folder a database row names, refusing anything outside ``PROJECT/cases`` or a symlink."""
    cases = (project / CASES).resolve()
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise CaseError("a case path in the database leaves the project", relative)
    path = cases / rel
    if path.is_symlink() or path.resolve().parent != cases:
        raise CaseError("a case folder is a symlink or outside PROJECT/cases; refused", path)
    return path


def served_marker(case_root: str | os.PathLike) -> dict | None:
    """The team marker of the folder holding a case (a served project, or a client's download folder)."""
    path = Path(case_root).resolve().parent / MARKER
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def refuse_if_served(case_root: str | os.PathLike, command: str) -> None:
    """Raise InputError when a local review command targets a case of a team project."""
    marker = served_marker(case_root)
    if marker is None:
        return
    if marker.get("TeamClient"):
        hint = {"submit": "ctlabel team submit CASE_DIR", "import": "ctlabel team upload CASE_DIR"}.get(
            command, "the team server's reviewers")
        raise InputError(f"this case is a copy downloaded from the team server {marker.get('TeamClient')}; "
                         f"local '{command}' is refused (use {hint})", case_root)
    hint = {"submit": "ctlabel team submit", "approve": "ctlabel team approve CASE --comment ...",
            "reject": "ctlabel team reject CASE --comment ...", "import": "ctlabel team upload"}.get(command,
                                                                                             "ctlabel team ...")
    raise InputError(f"this case belongs to the team project {marker.get('TeamProject')!r}, served by "
                     f"'ctlabel team serve'; local '{command}' is refused: use {hint}", case_root)


__all__ = ["CASES", "CONFIG", "GUIDELINES", "LABELS", "MARKER", "TMP", "case_folder", "check_case_name",
           "read_config", "refuse_if_served", "served_marker", "write_layout"]
