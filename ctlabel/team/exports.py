"""Exports of a served project: a training set of its cases in ``PROJECT/exports/NAME``, and its archive.

:func:`export_project` is :func:`ctlabel.export.run.export_dataset` (what ``ctlabel export-dataset
PROJECT/cases OUT`` runs) with the project's cases as the source and ``PROJECT/exports/NAME`` as
the output, followed by a zip of it, ``PROJECT/exports/NAME.zip``, that the lead's console
hands out (:func:`archive`: only names of this folder, never a link or a path elsewhere).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from ctlabel.errors import InputError
from ctlabel.export.run import ExportOptions, ExportReport, export_dataset
from ctlabel.io.atomic import atomic_path
from ctlabel.progress import Progress
from ctlabel.team.errors import NotFound
from ctlabel.team.service import Service

EXPORTS = "exports"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: Files already compressed: stored in the zip as they are.
_STORED = (".gz", ".zip", ".png", ".jpg")


def exports_dir(svc: Service) -> Path:
    """``PROJECT/exports``: where the console's exports and their archives are written."""
    return svc.root / EXPORTS


def default_name(fmt: str, now: dt.datetime | None = None) -> str:
    """``nnunet-20250101-093000``: the export's name when the lead gives none."""
    return f"{fmt}-{(now or dt.datetime.now(dt.UTC)):%Y%m%d-%H%M%S}"


def check_name(name: str) -> str:
    """An export's name: a plain folder name (letters, digits, ``_ . -``; no ``..``), else InputError."""
    if not _NAME.match(name or "") or ".." in name or name.endswith(".zip"):
        raise InputError(f"an export's name is letters, digits, '_', '.' and '-' (at most 100), not {name!r}",
                         options=("name",))
    return name


def export_project(svc: Service, name: str, options: ExportOptions,
                   listener: Callable[[Progress, str], None] | None = None) -> tuple[ExportReport, Path | None]:
    """Export the project's cases to ``PROJECT/exports/NAME`` and zip it; (report, the zip or None).

    Parameters
    ----------
    svc : Service
        The project.
    name : str
        The export's folder name (:func:`check_name`); an existing one only with ``options.update``.
    options : ExportOptions
        As ``ctlabel export-dataset`` takes them.
    listener : callable, optional
        Told of each case written or refused (:class:`ctlabel.progress.Progress`), then of the archive.

    Returns
    -------
    (ExportReport, Path or None)
        The report, and the archive (None when nothing was written).

    Raises
    ------
    InputError
        A bad name, bad options, no case, or a folder that is not empty without ``update``
        (:func:`ctlabel.export.run.export_dataset`).
    """
    out = exports_dir(svc) / check_name(name)
    exports_dir(svc).mkdir(exist_ok=True)
    report = export_dataset([svc.cases_dir], out, options, listener=listener)
    if report.manifest is None:
        return report, None
    return report, pack(out, listener)


def pack(folder: Path, listener: Callable[[Progress, str], None] | None = None) -> Path:
    """Zip ``folder`` into ``folder.zip`` beside it (written under a temporary name, then renamed).

    Only regular files are packed, each under the folder's name; a link is left out.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                   and not any((folder / q).is_symlink() for q in p.relative_to(folder).parents))
    bar = Progress(len(files), "files packed", enabled=False, listener=listener)
    target = folder.with_name(folder.name + ".zip")
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as z:
        for f in files:
            arc = f"{folder.name}/{f.relative_to(folder).as_posix()}"
            z.write(f, arc, zipfile.ZIP_STORED if f.name.endswith(_STORED) else zipfile.ZIP_DEFLATED)
            bar.step(arc)
    return target


def archive(svc: Service, name: str) -> Path:
    """The zip of export ``name``, confined to ``PROJECT/exports`` (no link, nothing outside).

    Raises
    ------
    NotFound
        No such archive (or the name is not an export's, or the file is a link).
    """
    try:
        check_name(name)
    except InputError:
        raise NotFound(f"no export {name!r}") from None
    base = exports_dir(svc).resolve()
    path = base / f"{name}.zip"
    if path.is_symlink() or not path.is_file() or path.resolve().parent != base:
        raise NotFound(f"no archive of the export {name!r} (is it finished?)")
    return path


def listing(svc: Service) -> list[tuple[str, int, dt.datetime]]:
    """The archives in ``PROJECT/exports``: (name, bytes, written), newest first."""
    base = exports_dir(svc)
    if not base.is_dir():
        return []
    out = []
    for p in base.glob("*.zip"):
        if p.is_file() and not p.is_symlink() and _NAME.match(p.stem):
            st = p.stat()
            out.append((p.stem, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))
    return sorted(out, key=lambda t: t[2], reverse=True)


def options_from(fields: dict[str, str]) -> ExportOptions:
    """The :class:`ExportOptions` of a form's fields (``format``, ``split``, ``validation_fraction``, flags)."""
    def number(key: str, kind: type) -> int | float | None:
        text = str(fields.get(key, "")).strip()
        if not text:
            return None
        try:
            return kind(text)
        except ValueError:
            raise InputError(f"{key.replace('_', ' ')} is a number, not {text[:40]!r}", options=(key,)) from None

    def flag(key: str) -> bool:
        return str(fields.get(key, "")).lower() in ("1", "on", "true", "yes")

    split = number("split", int)
    fraction = number("validation_fraction", float)
    options = ExportOptions(fmt=str(fields.get("format", "")), include_unapproved=flag("include_unapproved"),
                            update=flag("update"), resample_tilted=flag("resample_tilted"),
                            split=None if split is None else int(split),
                            validation_fraction=None if fraction is None else float(fraction),
                            consecutive=flag("consecutive"))
    options.check()
    return options


__all__ = ["EXPORTS", "archive", "check_name", "default_name", "export_project", "exports_dir", "listing",
           "options_from", "pack"]
