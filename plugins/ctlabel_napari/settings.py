"""The annotator identity: set once, kept in a small JSON file in the user's config folder.

``$CTLABEL_ANNOTATOR`` overrides the file; ``$CTLABEL_CONFIG_DIR`` moves the folder
(default ``$XDG_CONFIG_HOME/ctlabel`` or ``~/.config/ctlabel``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ctlabel import write_json

ENV_ANNOTATOR = "CTLABEL_ANNOTATOR"
ENV_CONFIG = "CTLABEL_CONFIG_DIR"


def config_dir() -> Path:
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ctlabel"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> dict:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_settings(data: dict) -> None:
    write_json(settings_path(), data)


def get_annotator() -> str:
    """The annotator id: ``$CTLABEL_ANNOTATOR``, else the saved setting, else ""."""
    env = os.environ.get(ENV_ANNOTATOR, "").strip()
    if env:
        return env
    return str(load_settings().get("annotator", "")).strip()


def set_annotator(name: str) -> None:
    data = load_settings()
    data["annotator"] = name.strip()
    save_settings(data)
