"""Intake from a PACS over DICOMweb: search (QIDO-RS), retrieve (WADO-RS), convert.

:func:`pull` finds the series that patient-free filters select, downloads each instance into
``OUT/.pull/<series hash>/`` (each written to a temporary name and renamed once complete, so an
interrupted pull resumes without fetching an instance twice), converts the downloaded series
with :func:`ctlabel.intake.convert.convert` into case folders in ``OUT``, records where each case came
from in ``<case>/retrieve.json`` and deletes the downloaded DICOM (unless ``keep_dicom``).

Everything HTTP goes through ``dicomweb-client``; authentication is a ``requests`` session
(basic or bearer). No credential is ever written anywhere. See docs/pull.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ctlabel.dicomweb.client import SeriesFailed, Server, ServerError, public_url
from ctlabel.dicomweb.pull_options import PullOptions, check_options, parse_study_date, read_uids_csv
from ctlabel.intake.convert import ConvertReport, convert
from ctlabel.io.atomic import write_json
from ctlabel.io.provenance import pseudonymize_uid, software
from ctlabel.progress import Progress

PULL_DIR = ".pull"
RETRIEVE_FILE = "retrieve.json"


@dataclass
class SeriesRef:
    """One series a pull selected, and what became of it.

    Attributes
    ----------
    study, series : str
        Its Study and Series Instance UIDs.
    requested : str
        What selected it: ``series``, ``study``, ``date`` or ``csv``.
    instances : list of str
        The SOP Instance UIDs the server lists.
    fetched, already_present : int
        Instances downloaded now, and found complete on disk from an earlier pull.
    status : str
        ``pending``, ``downloaded``, then ``converted``, ``skipped`` (no volume) or ``failed``.
    reason : str
        Why it failed or was skipped.
    cases : list of str
        The case folders made from it.
    folder : pathlib.Path, optional
        Where its instances are downloaded.
    """

    study: str
    series: str
    requested: str = ""  # what selected it ("series", "study", "date", "csv")
    instances: list[str] = field(default_factory=list)
    fetched: int = 0
    already_present: int = 0
    status: str = "pending"  # downloaded, then converted, skipped (no volume) or failed
    reason: str = ""
    cases: list[str] = field(default_factory=list)
    folder: Path | None = None

    def to_dict(self) -> dict:
        d = {"StudyInstanceUID": self.study, "SeriesInstanceUID": self.series, "status": self.status,
             "instances": len(self.instances), "fetched": self.fetched, "already_present": self.already_present,
             "cases": self.cases}
        if self.reason:
            d["reason"] = self.reason
        return d


@dataclass
class PullReport:
    """What a pull did: the series selected, the selections that matched nothing, the conversion.

    Attributes
    ----------
    url : str
        The server, without credentials.
    series : list of SeriesRef
        The series selected.
    failed : list of dict
        Selections (a study or series UID) that matched nothing on the server.
    convert : ConvertReport, optional
        The conversion of the downloaded series (None when nothing was downloaded).
    kept_dicom : list of str
        Download folders kept because their series failed.
    """

    url: str
    series: list[SeriesRef] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # selections that matched nothing
    convert: ConvertReport | None = None
    kept_dicom: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and all(s.status != "failed" for s in self.series) and (
            self.convert is None or self.convert.ok)

    def to_dict(self) -> dict:
        return {
            "software": software(),
            "url": self.url,
            "series": [s.to_dict() for s in self.series],
            "not_found": self.failed,
            "convert": None if self.convert is None else self.convert.to_dict(),
            "kept_dicom": self.kept_dicom,
            "summary": {"series": len(self.series),
                        "failed": sum(s.status == "failed" for s in self.series) + len(self.failed),
                        "instances_fetched": sum(s.fetched for s in self.series),
                        "instances_already_present": sum(s.already_present for s in self.series),
                        "cases": sum(len(s.cases) for s in self.series)},
        }

    def summary_text(self) -> str:
        s = self.to_dict()["summary"]
        lines = [f"pulled {s['series']} series from {self.url}: {s['instances_fetched']} instance(s) fetched, "
                 f"{s['instances_already_present']} already here; {s['cases']} case(s), {s['failed']} failed"]
        for r in self.series:
            what = f"  {r.series}: {r.status}"
            if r.cases:
                what += " -> " + ", ".join(Path(c).name for c in r.cases)
            if r.reason:
                what += f" ({r.reason})"
            lines.append(what)
        lines += [f"  NOT FOUND {f['uid']}: {f['reason']}" for f in self.failed]
        lines += [f"  DICOM kept for a failed series: {k}" for k in self.kept_dicom]
        if self.convert is not None:
            lines.append("convert: " + self.convert.summary_text())
        return "\n".join(lines)


# --- helpers ----------------------------------------------------------------------------------------
def series_folder_name(series_uid: str) -> str:
    return hashlib.sha256(series_uid.encode()).hexdigest()[:16]


def _instance_name(sop_uid: str) -> str:
    return hashlib.sha256(sop_uid.encode()).hexdigest()[:20] + ".dcm"


# --- selection --------------------------------------------------------------------------------------
def select_series(server: Server, options: PullOptions, report: PullReport) -> list[SeriesRef]:
    modality = options.modality or None
    picked: dict[str, SeriesRef] = {}

    def add(found, requested):
        for st, se, _mo in found:
            picked.setdefault(se, SeriesRef(st, se, requested))

    wanted: list[tuple[str, str | None, str]] = [(s, None, "study") for s in options.studies]
    wanted += [("", s, "series") for s in options.series]
    if options.uids_csv:
        wanted += [(st, se, "csv") for st, se in read_uids_csv(options.uids_csv)]
    if options.study_date:
        for study in server.studies_by_date(options.study_date):
            add(server.series_of(study, None, modality), "date")
    for study, series, how in wanted:
        found = server.series_of(study or None, series, modality)
        if not found:
            what = "series" if series else "study"
            why = (f"no {modality} series " if modality else "no series ") + (
                "with this UID on the server" if series else "in this study on the server")
            report.failed.append({"uid": series or study, "level": what, "reason": why})
        add(found, how)
    return list(picked.values())


# --- download ---------------------------------------------------------------------------------------
def _write_instance(ds, target: Path) -> None:
    """Write a data set to a temporary name, fsync, then rename: a ``.dcm`` file on disk is complete."""
    from pydicom import dcmwrite

    tmp = target.with_name(f".{target.name}.part")
    try:
        dcmwrite(tmp, ds, enforce_file_format=True)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _download(server: Server, ref: SeriesRef, folder: Path, bar: Progress,
              on_instance: Callable[[SeriesRef, str, bool], None] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.part"):  # an interrupted earlier pull
        with contextlib.suppress(OSError):
            stale.unlink()
    write_json(folder / ".series.json", {"URL": server.url, "StudyInstanceUID": ref.study,
                                        "SeriesInstanceUID": ref.series})
    expected = {_instance_name(s): s for s in ref.instances}
    for f in folder.glob("*.dcm"):
        if f.name not in expected:  # no longer on the server: not part of the series any more
            f.unlink()
    for name, sop in expected.items():
        target = folder / name
        if target.is_file():
            ref.already_present += 1
            bar.step(f"{ref.series[-16:]}: already here")
            if on_instance:
                on_instance(ref, sop, False)
            continue
        ds = server.retrieve(ref.study, ref.series, sop)
        got = str(getattr(ds, "SOPInstanceUID", ""))
        if got != sop:
            raise SeriesFailed(f"asked for instance {sop}, the server sent {got or 'no SOPInstanceUID'}")
        _write_instance(ds, target)
        ref.fetched += 1
        bar.step(f"{ref.series[-16:]}: fetched")
        if on_instance:
            on_instance(ref, sop, True)


# --- the whole pull ---------------------------------------------------------------------------------
def pull(url: str, out: str | os.PathLike, options: PullOptions | None = None, *, progress: bool = True,
         on_instance: Callable[[SeriesRef, str, bool], None] | None = None,
         listener: Callable[[Progress, str], None] | None = None) -> PullReport:
    """Search, retrieve and convert the series that ``options`` select into case folders in ``out``.

    ``listener(progress, message)`` is told of each instance retrieved, then of each series
    converted (:class:`ctlabel.progress.Progress`, whose ``label`` says which).

    Raises
    ------
    InputError
        Bad options.
    ServerError
        The server is unreachable, does not answer within ``options.timeout``, refuses the
        credentials, is not a DICOMweb root, or fails. Instances already complete on disk stay
        (the next pull does not fetch them again); nothing is converted.
    """
    options = options or PullOptions()
    check_options(url, options)
    server = Server(url, timeout=options.timeout, user=options.user, password=options.password,
                    token=options.token)
    report = PullReport(public_url(url))
    refs = report.series = select_series(server, options, report)
    for ref in refs:
        try:
            ref.instances = server.instances_of(ref.study, ref.series)
            if not ref.instances:
                ref.status, ref.reason = "failed", "the server lists no instance in this series"
        except SeriesFailed as exc:
            ref.status, ref.reason = "failed", str(exc)
    out = Path(out)
    todo = [r for r in refs if r.status != "failed"]
    if not todo:
        return report
    pull_root = out / PULL_DIR
    bar = Progress(sum(len(r.instances) for r in todo), "instances", enabled=progress, listener=listener)
    for ref in todo:
        ref.folder = pull_root / series_folder_name(ref.series)
        try:
            _download(server, ref, ref.folder, bar, on_instance)
            ref.status = "downloaded"
        except SeriesFailed as exc:
            ref.status, ref.reason = "failed", str(exc)
            bar.done += len(ref.instances) - ref.fetched - ref.already_present
        except ServerError as exc:
            done = sum(r.fetched + r.already_present for r in todo)
            total = sum(len(r.instances) for r in todo)
            raise ServerError(f"{exc.reason}; {done} of {total} instance(s) are on disk in {pull_root}: the same"
                              " command resumes without fetching them again", exc.path) from None
    downloaded = [r for r in todo if r.status == "downloaded"]
    if downloaded:
        folders = [r.folder for r in downloaded if r.folder is not None]  # each set before its download
        report.convert = convert(folders, out, jobs=options.jobs, options=options.convert,
                                 progress=progress, listener=listener)
        _record(out, downloaded, report, options)
    for ref in todo:
        if ref.folder is None or not ref.folder.exists():
            continue
        if ref.status == "failed":
            report.kept_dicom.append(str(ref.folder))
        elif not options.keep_dicom:
            shutil.rmtree(ref.folder, ignore_errors=True)
    if not options.keep_dicom:
        with contextlib.suppress(OSError):
            pull_root.rmdir()  # only when empty
    return report


def _record(out: Path, refs: list[SeriesRef], report: PullReport, options: PullOptions) -> None:
    """Mark each series converted or failed, and write ``retrieve.json`` into each of its cases."""
    from ctlabel.intake.convert_plan import existing_cases

    salt = options.convert.pseudonymize_salt
    cases = existing_cases(out)
    failed = report.convert.failed if report.convert else []
    for ref in refs:
        prefix = str(ref.folder) + os.sep
        bad = [f for f in failed if str(f.get("path", "")).startswith(prefix)]
        key = pseudonymize_uid(ref.series, salt) if salt else ref.series
        ref.cases = [str(c.root) for c in cases.get(key, [])]
        if bad:
            ref.status, ref.reason = "failed", "; ".join(f["reason"] for f in bad)
        elif not ref.cases:
            skipped = report.convert.skipped if report.convert else []
            why = sorted({str(f.get("reason", "")) for f in skipped if str(f.get("path", "")).startswith(prefix)})
            ref.status, ref.reason = "skipped", "no volume to label" + (f": {'; '.join(why)}" if why else "")
        else:
            ref.status = "converted"
        block: dict[str, str | bool]
        block = {"URL": report.url,
                 "StudyInstanceUID": pseudonymize_uid(ref.study, salt) if salt else ref.study,
                 "SeriesInstanceUID": key}
        if salt:
            block["UIDsPseudonymized"] = True
        for case in ref.cases:
            target = Path(case) / RETRIEVE_FILE
            if not target.exists():
                write_json(target, {"Retrieve": block, "RetrievedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                                    "GeneratedBy": software()})


__all__ = ["PullOptions", "PullReport", "SeriesRef", "ServerError", "parse_study_date", "public_url", "pull",
           "read_uids_csv"]
