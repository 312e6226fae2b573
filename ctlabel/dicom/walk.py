"""The files a scan reads.

Folders are walked (links walked once), DICOMDIRs followed, ctlabel's own files and files
that are never DICOM (by name) skipped with a reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ctlabel.dicom.stacks import FileProblem
from ctlabel.errors import InputError

#: File endings that are never DICOM; such files are ignored (listed, never a fault).
NON_DICOM_SUFFIXES = {
    ".txt", ".json", ".md", ".rst", ".csv", ".tsv", ".nii", ".gz", ".nrrd", ".py",
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".html", ".htm", ".xml", ".yaml", ".yml", ".zip", ".pdf", ".sh",
    ".doc", ".docx", ".xls", ".xlsx", ".rtf", ".log", ".ini", ".cfg", ".toml", ".sha256", ".md5",
    ".exe", ".dll", ".inf", ".ico", ".js", ".css",
}

#: Names of files that are never DICOM whatever their ending (LICENSE, README, SHA256SUMS...).
NON_DICOM_NAMES = re.compile(
    r"(licen[cs]e|readme|copying|notice|authors|contributors|changelog|changes|history|install|manifest"
    r"|thanks|todo|sha\d*sums|md5sums|checksums)([._-].*)?", re.IGNORECASE)

#: Endings of DICOM files: such a file is read whatever its name.
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}

#: The reason given for a file ignored by its name (:func:`never_dicom`).
NOT_DICOM_BY_NAME = "not a DICOM file (by name)"

#: ctlabel's own files, never read as input (a case folder inside the input tree).
OWN_FILES = {"case.lock", "case.json", "ct.json", "labels.tsv", "journal.json"}

DIRECTORY = "1.2.840.10008.1.3.10"


def never_dicom(name: str) -> bool:
    """True for a file name that is never DICOM (by its ending or its name, e.g. ``LICENSE``).

    A name ending as DICOM files do (``.dcm``, ``.dicom``, ``.ima``) is always read.

    Parameters
    ----------
    name : str
        The file's name (not its path).

    Returns
    -------
    bool
    """
    suffix = Path(name).suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return False
    return suffix in NON_DICOM_SUFFIXES or NON_DICOM_NAMES.fullmatch(name) is not None


def ignored_by_name(problem: FileProblem) -> bool:
    """True for a file the walk left out as never DICOM by its name (listed, never a fault).

    Parameters
    ----------
    problem : FileProblem
        An entry of :func:`candidate_files`' problems.

    Returns
    -------
    bool
    """
    return not problem.fatal and problem.reason == NOT_DICOM_BY_NAME


def ignored_text(paths, shown: int = 10) -> str:
    """``ignored 2 non-DICOM files: LICENSE, README.md`` for the files ignored by name, or ``""``.

    Parameters
    ----------
    paths : sequence of str or PathLike
        The files ignored (:func:`ignored_by_name`).
    shown : int
        At most this many names are listed; the others are counted.

    Returns
    -------
    str
    """
    names = [os.path.basename(p) for p in paths]
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return (f"ignored {len(names)} non-DICOM file{'' if len(names) == 1 else 's'}: "
            f"{', '.join(names[:shown])}{more}")


def _inside(f: Path, root: Path) -> bool:
    try:
        f.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def dicomdir_files(path: Path, _depth: int = 0, root: Path | None = None) -> tuple[list[Path], list[FileProblem]]:
    """Files that a DICOMDIR lists (following nested index files), and the listed files that are missing.

    Entries that lead outside the folder of the (top) DICOMDIR, by ``..``, an absolute path
    or a link, are refused with a warning.
    """
    root = root or path.parent
    extra_problems: list[FileProblem] = []
    try:
        import pydicom  # on first need: its import costs ~0.15 s of start-up

        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        return [], [FileProblem(str(path), f"unreadable DICOMDIR ({exc})")]
    refs = []
    for rec in ds.get("DirectoryRecordSequence", []) or []:
        ref = rec.get("ReferencedFileID")
        if ref is not None:
            refs.append([str(p) for p in ([ref] if isinstance(ref, str) else list(ref))])
    # The file-set root is normally the DICOMDIR's folder; some writers (Philips
    # DIRFILE) place it higher up. Take the nearest ancestor where a listed file exists.
    bases = [path.parent, *list(path.parent.parents)[:3]]
    base = next((b for b in bases if any(b.joinpath(*r).exists() for r in refs)), path.parent)
    files: list[Path] = []
    missing: list[Path] = []
    outside: list[str] = []
    for parts in refs:
        f = base.joinpath(*parts)
        if ".." in parts or any(Path(x).is_absolute() for x in parts) or not _inside(f, root):
            outside.append("/".join(parts))
            continue
        (files if f.is_file() else missing).append(f)
    if outside:
        extra_problems.append(FileProblem(str(path), f"DICOMDIR lists {len(outside)} file(s) outside its folder,"
                                          f" e.g. {outside[0]}: refused", fatal=False))
    # A study-level index may list further index files (Philips DIRFILE per series).
    nested = [f for f in files if f.name.upper() in ("DICOMDIR", "DIRFILE") and f != path]
    if nested and _depth < 3:
        files = [f for f in files if f not in nested]
        for sub in nested:
            sub_files, sub_problems = dicomdir_files(sub, _depth + 1, root)
            files += sub_files
            extra_problems.extend(sub_problems)
    problems = extra_problems
    if missing:
        problems.append(
            FileProblem(
                str(path),
                f"DICOMDIR lists {len(missing)} file(s) that are missing, e.g. {missing[0]}",
                fatal=False,
            )
        )
    return files, problems


def _is_directory_file(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        from pydicom.filereader import read_file_meta_info

        meta = read_file_meta_info(path)
    except Exception:  # noqa: BLE001
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == DIRECTORY


def candidate_files(paths) -> tuple[list[Path], list[FileProblem]]:
    """The files a scan reads under ``paths``, and the ones skipped with a reason.

    Folders are walked in name order (a linked folder once), DICOMDIRs followed; hidden
    files and ctlabel's own files are left out silently, files that are never DICOM (by name)
    and non-regular files are skipped with a reason.

    Parameters
    ----------
    paths : iterable of path
        Files, folders or DICOMDIRs.

    Returns
    -------
    files : list of pathlib.Path
        Resolved, each once.
    problems : list of FileProblem
        What was skipped, and why (never fatal).

    Raises
    ------
    InputError
        A path does not exist.
    """
    files: list[Path] = []  # resolved
    problems: list[FileProblem] = []

    def unreadable(err: OSError) -> None:
        """A folder the walk cannot list: reported as a failure, never left out silently."""
        problems.append(FileProblem(str(err.filename), f"cannot read the folder ({err.strerror or err}):"
                                                       " its files are not converted"))

    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError("no such file or folder", p)
        if p.is_file():
            if _is_directory_file(p):
                listed, pr = dicomdir_files(p)
                files += [f.resolve() for f in listed]
                problems += pr
            else:
                files.append(p.resolve())
            continue
        visited: set[str] = set()
        for root, dirs, names in os.walk(p, followlinks=True, onerror=unreadable):
            real = os.path.realpath(root)
            if real in visited:  # a link back into the tree: walked once only
                problems.append(FileProblem(root, "a linked folder already walked: skipped", fatal=False))
                dirs[:] = []
                continue
            visited.add(real)
            dirs.sort()
            for name in sorted(names):
                f = Path(root) / name
                if name.startswith(".") or name in OWN_FILES or name.startswith("case.lock"):
                    continue
                if never_dicom(name):
                    problems.append(FileProblem(str(f), NOT_DICOM_BY_NAME, fatal=False))
                    continue
                if not f.is_file():
                    problems.append(FileProblem(str(f), "not a regular file (a pipe, device, socket or broken"
                                                        " link): skipped", fatal=False))
                    continue
                # resolved: the folder's real path is known; only a link needs resolving on its own
                files.append(f.resolve() if os.path.islink(f) else Path(real, name))
    # A file reached twice (folder walk and DICOMDIR) counts once.
    return list(dict.fromkeys(files)), problems


__all__ = ["NON_DICOM_NAMES", "NON_DICOM_SUFFIXES", "NOT_DICOM_BY_NAME", "OWN_FILES", "candidate_files",
           "dicomdir_files", "ignored_by_name", "ignored_text", "never_dicom"]
