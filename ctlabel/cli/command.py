"""The command that runs this ctlabel again, for the commands the CLI prints (``label a case: ...``)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys


def self_command(argv0: str | None = None, executable: str | None = None) -> str:
    """How to start the running ctlabel from the current folder, ready to paste into a shell.

    ``ctlabel`` when that name on ``PATH`` is the running script; else the script's path as it
    was started (``.venv/bin/ctlabel`` when the venv is not activated); for ``python -m ctlabel``,
    that interpreter with ``-m ctlabel``.

    Parameters
    ----------
    argv0 : str, optional
        The program as started (default ``sys.argv[0]``).
    executable : str, optional
        The Python interpreter (default ``sys.executable``).

    Returns
    -------
    str
        A shell-quoted command, e.g. ``.venv/bin/ctlabel`` or ``/opt/venv/bin/python -m ctlabel``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    if os.path.basename(argv0) in ("ctlabel", "ctlabel.exe") and os.path.isfile(argv0):
        on_path = shutil.which("ctlabel")
        if on_path and os.path.samefile(on_path, argv0):
            return "ctlabel"
        # as started (relative to this folder), or absolute when started by name from a folder not on PATH
        return shlex.quote(argv0 if os.sep in argv0 else os.path.abspath(argv0))
    return f"{shlex.quote(executable)} -m ctlabel"


__all__ = ["self_command"]
