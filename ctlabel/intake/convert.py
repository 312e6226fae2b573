"""Batch conversion: DICOM stacks to case folders, in parallel, with a report.

A bad series is reported with its file and reason and the batch goes on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ctlabel.case.folder import Case
from ctlabel.case.naming import stack_case_name
from ctlabel.dicom.read import load_series
from ctlabel.dicom.scan import find_series
from ctlabel.dicom.stacks import Stack
from ctlabel.dicom.walk import ignored_by_name
from ctlabel.errors import CaseError, CtlabelError, InputError
from ctlabel.intake.batch import executor, results, task_failure, threads
from ctlabel.intake.batch import single_threaded as _single_threaded
from ctlabel.intake.convert_plan import described, plan_batch, remove_stale_partials
from ctlabel.intake.convert_report import ConvertOptions, ConvertReport, report_entry
from ctlabel.io.atomic import write_json
from ctlabel.io.provenance import software
from ctlabel.progress import Progress


def case_name(stack: Stack, salt: str | None) -> str:
    """The case folder name of a stack (see :func:`ctlabel.case.naming.case_folder_name`)."""
    return stack_case_name(stack, salt)


def convert_stack(stack: Stack, out_root: str | os.PathLike, options: ConvertOptions,
                  target: str | None = None) -> dict:
    """Convert one stack into a new case folder; return a report entry.

    The case is built in a temporary folder and renamed into place, so an interrupted
    batch never leaves a half-written case, and an existing folder is never replaced.

    Raises :class:`CtlabelError` for bad input or a name already taken; other exceptions are bugs.
    """
    root = Path(out_root) / (target or case_name(stack, options.pseudonymize_salt))
    volume = load_series(stack, irregular=options.irregular, digest=True)  # hashed while read, for ct.json
    volume.source = described(volume.source, stack, options)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    try:
        Case.create(tmp, volume, label_table=options.label_table, pseudonymize_salt=options.pseudonymize_salt)
        try:
            os.rename(tmp, root)  # fails on a non-empty folder: never replaces a case
        except OSError:
            if _written_before(root, stack, options):  # by this task's earlier attempt, whose worker died
                return report_entry(root, stack, volume)
            raise CaseError("a folder of this name appeared while converting; it was left as it is",
                            root) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return report_entry(root, stack, volume)


def _written_before(root: Path, stack: Stack, options: ConvertOptions) -> bool:
    """True when ``root`` is a complete case of exactly this stack (a retried task finds its own work)."""
    import json

    from ctlabel.intake.convert_plan import ExistingCase

    if not all(h.sop_instance_uid for h in stack.slices):
        return False  # positions alone do not prove it
    try:
        source = json.loads((root / "ct.json").read_text(encoding="utf-8")).get("Source") or {}
        return (root / "ct.nii.gz").is_file() and ExistingCase(root, source).same_source(
            stack, options.pseudonymize_salt)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def _worker(args) -> tuple[str, dict]:
    stack, out_root, options, target, mode = args
    try:
        if mode in ("replace", "verify"):
            from ctlabel.intake.convert_image import replace_image, same_voxels

            case = Path(out_root) / target
            return replace_image(case, stack, options) if mode == "replace" else same_voxels(case, stack, options)
        return "converted", convert_stack(stack, out_root, options, target)
    except CtlabelError as exc:
        return "failed", {"path": exc.path or stack.files[0], "reason": exc.reason,
                          "series": stack.description, "case_name": target}
    except MemoryError:
        return "failed", {"path": stack.files[0], "reason": "out of memory", "series": stack.description}
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the batch; report it
        return "failed", {"path": stack.files[0], "reason": f"internal error: {type(exc).__name__}: {exc}",
                          "series": stack.description, "traceback": traceback.format_exc()}


def _task_failed(args, exc: BaseException) -> tuple[str, dict]:
    """The report entry of a series whose task could not run (its worker died, the pool broke)."""
    stack, _, _, target, _ = args
    return "failed", {"path": stack.files[0], "reason": task_failure(exc), "series": stack.description,
                      "case_name": target}


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when the batch process dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request: go now
        os._exit(1)


def _single_threaded_worker(parent: int) -> None:
    _die_with_parent(parent)
    _single_threaded().__enter__()  # the worker process ends with the pool


def default_jobs() -> int:
    """Worker processes used when none are asked for: one per core."""
    return max(1, os.cpu_count() or 1)


def convert(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    jobs: int | None = None,
    options: ConvertOptions | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    listener: Callable[[Progress, str], None] | None = None,
) -> ConvertReport:
    """Convert every volume under ``sources`` into case folders under ``out``.

    Nothing already in ``out`` is deleted or replaced: a stack whose case exists (same
    source instances and positions, whatever the folder is called) is skipped, and a
    folder of the stack's name that holds something else is a failure.

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
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): each series is converted on
        one of its workers, which read the DICOM files and write the case into ``out``
        themselves (a file system they share with this process). ``jobs`` then only
        sets the processes of the header scan here. See ``docs/batch.md``.
    listener : callable, optional
        Told of each series done, ``listener(progress, case_or_path)`` (:class:`ctlabel.progress.Progress`;
        its ``errors`` name the series that failed and why).

    Raises
    ------
    InputError
        ``jobs`` is below 1, a source does not exist, ``out`` is a file, or ``scheduler`` does not
        answer.
    """
    options = options or ConvertOptions()
    if jobs is not None and int(jobs) < 1:
        raise InputError(f"jobs must be at least 1, not {jobs}")
    jobs = default_jobs() if jobs is None else int(jobs)
    report = ConvertReport(descriptions_cleaned=not options.keep_descriptions)
    done = []
    with contextlib.ExitStack() as held:
        # a scheduler that does not answer is an error before the scan, not after it
        cluster = held.enter_context(executor(1, scheduler)) if scheduler else None
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise InputError("the output must be a folder, and this is a file", out)
        scan = find_series(*sources, jobs=jobs)
        for p in scan.problems:
            if ignored_by_name(p):
                report.ignored.append(p.path)
            else:
                (report.failed if p.fatal else report.skipped).append(p.to_dict())
        if not scan.stacks and not report.failed:
            report.failed.append({"path": ", ".join(map(str, sources)), "reason": "no DICOM files found"})
        out.mkdir(parents=True, exist_ok=True)
        todo = plan_batch(scan.stacks, out, options, report)
        bar = Progress(len(todo), "series", enabled=progress, listener=listener)
        work = [(s, out, options, target, mode) for s, target, mode in todo]
        workers = min(jobs, len(work)) if len(work) > 1 else 1
        # one series in this process uses every core it was given; else one core per task
        held.enter_context(threads(jobs) if not cluster and len(work) == 1 else _single_threaded())
        pool = cluster or held.enter_context(executor(workers, initializer=_single_threaded_worker,
                                                      initargs=(os.getpid(),)))
        for _, (status, entry) in results(pool, _worker, work, _task_failed):
            done.append((status, entry))
            bar.step(entry.get("case") or entry.get("path", ""),
                     error=str(entry.get("reason", "")) if status == "failed" else "")
    for status, entry in done:
        getattr(report, status).append(entry)
    for _, target, _ in todo:  # left by a worker that died while it wrote (its task ran again)
        remove_stale_partials(out, target)
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
