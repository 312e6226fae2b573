"""Find DICOM image stacks in folders, files and DICOMDIRs, reading headers only.

:func:`find_series` groups files into stacks by SeriesInstanceUID and geometry
(orientation, rows, columns) and classifies each stack (volume, single slice,
localizer, secondary capture or dose report, non-image object).
"""

from __future__ import annotations

import os
from collections import defaultdict

from ctlabel.dicom.grouping import make_stacks, mark_split_off, split_duplicates
from ctlabel.dicom.records import FileRecord, read_records
from ctlabel.dicom.stacks import ScanResult
from ctlabel.dicom.walk import candidate_files
from ctlabel.model import StackKind

#: Fewer files than this are scanned in-process: starting workers would cost more than it saves.
PARALLEL_SCAN_MIN_FILES = 2000

#: Kinds of stack, in the order they are listed. ``ambiguous``: images of one series share
#: positions with different pixels (a 4-D or mixed series), so no single volume can be built.
KINDS = tuple(StackKind)


def find_series(*paths: str | os.PathLike, jobs: int = 1) -> ScanResult:
    """Find image stacks and non-image objects under files, folders or DICOMDIRs.

    Parameters
    ----------
    *paths : str or PathLike
        Folders (walked recursively), DICOM files, or DICOMDIR files.
    jobs : int
        Worker processes that read headers (worth it for hundreds of files).

    Returns
    -------
    ScanResult
        ``stacks`` sorted by kind, study, series number and description;
        ``problems`` lists files that were skipped or could not be read.
    """
    files, problems = candidate_files(paths)
    if jobs > 1 and len(files) >= PARALLEL_SCAN_MIN_FILES:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        chunks = [files[i::jobs] for i in range(jobs)]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            results = [r for part in pool.map(read_records, chunks) for r in part]
    else:
        results = read_records(files)
    groups: dict[tuple, list[FileRecord]] = defaultdict(list)
    for record, pr in results:
        problems += pr
        if record is not None:
            groups[record.key].append(record)

    stacks = []
    for key, members in groups.items():
        members.sort(key=lambda r: r.path)
        for part in split_duplicates(key[0], members):
            stacks.extend(make_stacks(key[0], part))
    mark_split_off(stacks, {p.series_uid for p in problems if p.fatal and p.series_uid})
    order = {k: i for i, k in enumerate(KINDS)}
    stacks.sort(key=lambda s: (order[s.kind], s.study_uid, s.series_number or 0, s.series_uid, s.geometry_hash,
                               s.slices[0].path if s.slices else ""))
    for i, s in enumerate(stacks, 1):
        s.index = i
    return ScanResult(stacks, problems)


__all__ = ["KINDS", "PARALLEL_SCAN_MIN_FILES", "find_series"]
