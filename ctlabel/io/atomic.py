"""Atomic file writes: a temporary file beside the target, flushed, then renamed.

A crash mid-write leaves the previous file intact; readers never see half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ctlabel.errors import CaseError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The caller writes the temporary file completely (and closes it). On any
    exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CaseError(f"cannot write here ({exc.strerror})", path) from None
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets normal permissions
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:  # a full disk, a quota, a permission: the previous file stays as it was
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, CaseError):
            raise
        raise CaseError(f"cannot write ({exc.strerror or exc}); the previous file is unchanged", path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` when closed without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically; NaN or infinity is refused (not valid JSON)."""
    try:
        text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        raise CaseError(f"refused to write invalid JSON ({exc})", path) from None
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
