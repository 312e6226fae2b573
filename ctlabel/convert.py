"""Batch conversion: DICOM stacks to case folders, in parallel, with a report.

A bad series is reported with its file and reason and the batch goes on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from ctlabel.atomic import write_json
from ctlabel.case import IMAGE, Case
from ctlabel.dicom_read import load_series
from ctlabel.dicom_scan import Stack, find_series
from ctlabel.errors import CtlabelError
from ctlabel.labels import LabelTable
from ctlabel.progress import Progress
from ctlabel.provenance import pseudonymize_uid, software


@dataclass
class ConvertOptions:
    """Settings of one batch."""

    pseudonymize_salt: str | None = None
    label_table: LabelTable | None = None
    skip_existing: bool = False
    irregular: str = "keep"


@dataclass
class ConvertReport:
    """What a batch did: converted cases, skipped items and failures, each with a reason."""

    converted: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        return {
            "software": software(),
            "converted": self.converted,
            "skipped": self.skipped,
            "failed": self.failed,
            "summary": {"converted": len(self.converted), "skipped": len(self.skipped), "failed": len(self.failed)},
        }

    def summary_text(self) -> str:
        lines = [f"converted {len(self.converted)}, skipped {len(self.skipped)}, failed {len(self.failed)}"]
        for f in self.failed:
            lines.append(f"  FAILED {f['path']}: {f['reason']}")
        return "\n".join(lines)


def case_name(stack: Stack, salt: str | None) -> str:
    study = pseudonymize_uid(stack.study_uid, salt) if salt else stack.study_uid
    return stack.case_name(study)


def convert_stack(stack: Stack, out_root: str | os.PathLike, options: ConvertOptions) -> dict:
    """Convert one stack into its case folder; return a report entry.

    Raises :class:`CtlabelError` for bad input; other exceptions are bugs.
    """
    root = Path(out_root) / case_name(stack, options.pseudonymize_salt)
    volume = load_series(stack, irregular=options.irregular)
    # Build the case in a temporary folder, then rename it into place, so an
    # interrupted batch never leaves a half-written case that --skip-existing trusts.
    tmp = root.with_name(f".{root.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    Case.create(tmp, volume, label_table=options.label_table, pseudonymize_salt=options.pseudonymize_salt)
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return {
        "case": str(root),
        "description": stack.description,
        "slices": volume.shape[0],
        "size": list(volume.shape),
        "spacing": [round(v, 4) for v in volume.spacing],
        "dtype": str(volume.array.dtype),
        "warnings": list(volume.warnings),
        "source_files": len(stack.files),
    }


def _worker(args) -> tuple[str, dict]:
    stack, out_root, options = args
    try:
        return "converted", convert_stack(stack, out_root, options)
    except CtlabelError as exc:
        return "failed", {"path": exc.path or stack.files[0], "reason": exc.reason,
                          "series": stack.description, "case_name": case_name(stack, options.pseudonymize_salt)}
    except MemoryError:
        return "failed", {"path": stack.files[0], "reason": "out of memory", "series": stack.description}
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the batch; report it
        return "failed", {"path": stack.files[0], "reason": f"internal error: {type(exc).__name__}: {exc}",
                          "series": stack.description, "traceback": traceback.format_exc()}


@contextlib.contextmanager
def _single_threaded():
    """One core per worker: no reader or compressor threads (``--jobs`` is the CPU budget)."""
    from ctlabel import dicom_read, nifti_io

    saved = dicom_read.LOAD_THREADS, nifti_io.GZIP_THREADS
    dicom_read.LOAD_THREADS = nifti_io.GZIP_THREADS = 1
    try:
        yield
    finally:
        dicom_read.LOAD_THREADS, nifti_io.GZIP_THREADS = saved


def _single_threaded_worker() -> None:
    _single_threaded().__enter__()  # the worker process ends with the pool


def default_jobs() -> int:
    """Worker processes used when none are asked for: one per core."""
    return max(1, os.cpu_count() or 1)


def convert(
    sources: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    jobs: int | None = None,
    options: ConvertOptions | None = None,
    progress: bool = True,
) -> ConvertReport:
    """Convert every volume under ``sources`` into case folders under ``out``.

    Parameters
    ----------
    sources : list of path
        DICOM folders, files or DICOMDIRs.
    out : path
        Output folder; one case folder per volume, named deterministically.
    jobs : int, optional
        Worker processes, each single-threaded, so this is the number of cores the
        batch uses (default: all of them). ``1`` converts in this process on one core.
    options : ConvertOptions, optional
    progress : bool
        Show progress on stderr.
    """
    options = options or ConvertOptions()
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    report = ConvertReport()
    scan = find_series(*sources, jobs=jobs)
    for p in scan.problems:
        (report.failed if p.fatal else report.skipped).append(p.to_dict())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo: list[Stack] = []
    for s in scan.stacks:
        if s.kind != "volume":
            report.skipped.append({"path": s.files[0] if s.files else "", "series": s.description,
                                   "reason": f"{s.kind} (only volumes are converted)"})
            continue
        if options.skip_existing and (out / case_name(s, options.pseudonymize_salt) / IMAGE).exists():
            report.skipped.append({"path": s.files[0], "series": s.description,
                                   "reason": "case exists (--skip-existing)",
                                   "case": str(out / case_name(s, options.pseudonymize_salt))})
            continue
        todo.append(s)
    bar = Progress(len(todo), "series", enabled=progress)
    work = [(s, out, options) for s in todo]
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork"),
                                 initializer=_single_threaded_worker) as pool:
            results = []
            for status, entry in pool.map(_worker, work):
                results.append((status, entry))
                bar.step(entry.get("case") or entry.get("path", ""))
    else:
        results = []
        with _single_threaded():
            for w in work:
                status, entry = _worker(w)
                results.append((status, entry))
                bar.step(entry.get("case") or entry.get("path", ""))
    for status, entry in results:
        getattr(report, status).append(entry)
    _write_dataset_description(out)
    return report


def _write_dataset_description(out: Path) -> None:
    path = out / "dataset_description.json"
    if not path.exists():
        write_json(path, {
            "Name": "ctlabel cases",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [software()],
        })
