"""Where a client keeps its team server and token: one JSON file readable by the user only.

``ctlabel team login`` and the napari Worklist widget share it: ``$CTLABEL_CONFIG_DIR``, else
``$XDG_CONFIG_HOME/ctlabel`` (``~/.config/ctlabel``), file ``team-login.json``, mode 0600.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ctlabel.errors import InputError

CONFIG_NAME = "team-login.json"


def config_dir() -> Path:
    """Where ``login`` keeps the server and token: ``$CTLABEL_CONFIG_DIR``, else ``~/.config/ctlabel``."""
    env = os.environ.get("CTLABEL_CONFIG_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "ctlabel"


def save_login(url: str, token: str) -> Path:
    """Store the server and token, readable by the user only (0600)."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / CONFIG_NAME
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"Server": url, "Token": token}, f)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_login() -> tuple[str, str]:
    """The stored ``(server URL, token)``; InputError when nobody logged in."""
    path = config_dir() / CONFIG_NAME
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
        return str(cfg["Server"]), str(cfg["Token"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError("not logged in to a team server: log in first", path) from None


__all__ = ["CONFIG_NAME", "config_dir", "load_login", "save_login"]
