"""``ctlabel qa | compare | verify | import | submit | approve | reject | review-status``.

Registered by :mod:`ctlabel.cli.main`. Each handler returns an exit code: 0 all good,
1 a check failed (QA error, verify mismatch), and bad input raises
:class:`~ctlabel.errors.CtlabelError` (printed as ``error: ...``, exit 2).
"""

from __future__ import annotations

import argparse
import getpass
import json

from ctlabel.errors import CtlabelError, InputError


def _user(args) -> str:
    return args.user or getpass.getuser()


def _refuse_served(case, command: str) -> None:
    """Cases of a served team project (or a client's copy) change only through ``ctlabel team``."""
    from ctlabel.team.project import refuse_if_served

    refuse_if_served(case, command)


def _qa_task(args: tuple) -> object:
    from ctlabel.measure.qa_targets import qa_target

    target, opts, image = args
    return qa_target(target, opts, image=image)


def batch_qa(targets: list[str], opts, image: str | None, scheduler: str | None) -> list:
    """QA reports of ``targets`` in order, here or one task per case on the Dask ``scheduler``."""
    from ctlabel.intake.batch import executor, results, task_failure
    from ctlabel.qa import QAReport

    def failed(item, exc):
        return QAReport(str(item[0]), error=task_failure(exc))

    with executor(1, scheduler) as pool:
        return [r for _, r in results(pool, _qa_task, [(t, opts, image) for t in targets], failed)]


def _compare_task(pair: tuple[str, str]) -> tuple[object | None, dict | None]:
    from ctlabel.measure.compare import compare_specs

    try:
        return compare_specs(*pair), None
    except CtlabelError as exc:
        return None, {"a": pair[0], "b": pair[1], "error": str(exc)}


def batch_compare(pairs: list[tuple[str, str]], scheduler: str | None) -> tuple[list, list[dict]]:
    """Comparisons and failures of ``pairs`` in order, here or one task per pair on the Dask ``scheduler``."""
    from ctlabel.intake.batch import executor, results, task_failure

    def failed(pair, exc):
        return None, {"a": pair[0], "b": pair[1], "error": task_failure(exc)}

    done, failures = [], []
    with executor(1, scheduler) as pool:
        for _, (res, failure) in results(pool, _compare_task, pairs, failed):
            if failure is None:
                done.append(res)
            else:
                failures.append(failure)
    return done, failures


def cmd_qa(args: argparse.Namespace) -> int:
    """``ctlabel qa``: run the QA checks on cases, versions or mask files and print the findings.

    Returns
    -------
    int
        The exit status: 0, or 1 when a target has an error finding or failed.
    """
    from ctlabel.measure.qa_targets import IMAGE_CHECKS, expand_targets, finds_image
    from ctlabel.qa import CHECKS, QAOptions

    checks = CHECKS
    args.only = [c.strip() for v in args.only or [] for c in v.split(",") if c.strip()]
    args.skip = [c.strip() for v in args.skip or [] for c in v.split(",") if c.strip()]
    if args.only:
        bad = sorted(set(args.only) - set(CHECKS))
        if bad:
            raise InputError(f"unknown check(s) {bad}; choose from {list(CHECKS)}")
        checks = tuple(args.only)
    if args.skip:
        checks = tuple(c for c in checks if c not in args.skip)
    opts = QAOptions(air_hu=args.air_hu, min_island_mm3=args.min_island_mm3, max_gap=args.max_gap,
                     min_hole_mm2=args.min_hole_mm2, checks=checks)
    targets = expand_targets(args.targets)
    need = [c for c in IMAGE_CHECKS if c in checks]
    loose = [t for t in targets if not finds_image(t)] if need and not args.image and not args.mask_only else []
    if loose:
        others = f" (and {len(loose) - 1} other mask(s))" if len(loose) > 1 else ""
        raise InputError(f"no image for this mask{others}: the checks {', '.join(need)} need it; give it with "
                         "--image IMAGE, or check the mask alone with --mask-only", loose[0])
    reports = batch_qa(targets, opts, args.image, args.scheduler)
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in reports), "reports": [r.to_dict() for r in reports]}, indent=2))
    else:
        print(f"{'level':<8} {'check':<29} {'label':>5} {'slice':>5} {'voxel':<16} message")
        for r in reports:
            print(f"== {r.source}: {'ok' if r.ok else 'FAILED'}")
            if r.error:
                print(f"{'error':<8} {'unreadable':<29} {'-':>5} {'-':>5} {'-':<16} {r.error}")
            for f in r.findings:
                vox = "-" if f.voxel is None else ",".join(str(v) for v in f.voxel)
                print(f"{f.level:<8} {f.check:<29} {('-' if f.label is None else f.label):>5} "
                      f"{('-' if f.slice is None else f.slice):>5} {vox:<16} {f.message}")
        n_err = sum(1 for r in reports for f in r.findings if f.level == "error") + sum(bool(r.error) for r in reports)
        n_warn = sum(1 for r in reports for f in r.findings if f.level == "warning")
        print(f"{len(reports)} checked, {n_err} error(s), {n_warn} warning(s)")
    return 0 if all(r.ok for r in reports) else 1


def cmd_compare(args: argparse.Namespace) -> int:
    """``ctlabel compare``: compare two masks or versions (or the pairs of a CSV) and print the metrics.

    Returns
    -------
    int
        The exit status: 0, or 1 when a pair failed.
    """
    from ctlabel.measure.compare import compare_specs, read_pairs

    if args.pairs:
        if args.a or args.b:
            raise InputError("give either A B or --pairs, not both")
        pairs = read_pairs(args.pairs)
    else:
        if not (args.a and args.b):
            raise InputError("compare needs two masks A B (or --pairs PAIRS.csv)")
        pairs = [(args.a, args.b)]
    failures: list[dict]
    if not args.pairs:
        results, failures = [compare_specs(*pairs[0])], []
    else:
        results, failures = batch_compare(pairs, args.scheduler)
    if args.json:
        out = [r.to_dict() for r in results]
        print(json.dumps(out[0] if not args.pairs else {"pairs": out, "failures": failures}, indent=2))
    else:
        for r in results:
            print(r.table())
            print()
        for f in failures:
            print(f"error: {f['error']}")
    return 1 if failures else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """``ctlabel verify``: check the record chain, versions and image of each case.

    Returns
    -------
    int
        The exit status: 0, or 1 when a case has an error.
    """
    from pathlib import Path

    from ctlabel.case.folder import Case, find_cases
    from ctlabel.case.verify import verify_case
    from ctlabel.errors import CaseError

    cases = []
    for p in args.cases:
        if not Path(p).exists():
            raise CaseError("no such file or folder", p)
        found = find_cases(p)
        if not found:
            Case.open(p)  # raises CaseError naming the path
        cases += found
    reports = [verify_case(c, check_image=not args.skip_image) for c in cases]
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in reports), "cases": [r.to_dict() for r in reports]}, indent=2))
    else:
        for r in reports:
            print(f"{'OK      ' if r.ok else 'MISMATCH'} {r.case} ({r.versions} version(s), {r.events} event(s))")
            for p in r.problems:
                print(f"  {p.level}: {p.what}: {p.path or ''}: {p.message}")
    return 0 if all(r.ok for r in reports) else 1


def cmd_import(args: argparse.Namespace) -> int:
    """``ctlabel import``: import a mask made elsewhere (NIfTI, NRRD, DICOM SEG) as a version of a case.

    Returns
    -------
    int
        The exit status: 0.
    """
    from ctlabel.case.folder import Case
    from ctlabel.intake.importers import import_mask

    case = Case.open(args.case)
    _refuse_served(case.root, "import")
    segments = None
    if args.segments:
        try:
            segments = [int(s) for s in args.segments.split(",") if s.strip()]
        except ValueError:
            raise InputError(f"--segments must be numbers like 1,3, not {args.segments!r}") from None
    relabel = None
    if args.relabel:
        try:
            relabel = {int(a): int(b) for a, b in (pair.split("=") for pair in args.relabel.split(",") if pair.strip())}
        except ValueError:
            raise InputError(f"--relabel must look like 1=4,2=7, not {args.relabel!r}") from None
    n = import_mask(case, args.source, _user(args), role=args.role, fmt=args.format, segments=segments,
                    relabel=relabel)
    print(f"imported {args.source} into {case.root} as v{n:03d}")
    return 0


def cmd_submit(args) -> int:
    """Submit a case; QA warnings are printed, QA errors need ``--force`` (else exit 1, listed)."""
    from ctlabel.case.folder import Case
    from ctlabel.case.qa_gate import describe_finding, submission_qa
    from ctlabel.case.review import submit

    case = Case.open(args.case)
    _refuse_served(case.root, "submit")
    findings = submission_qa(case)
    errors = [f for f in findings if f.level == "error"]
    for f in findings:
        if f.level != "error":
            print(describe_finding(f))
    if errors and not args.force:
        for f in errors:
            print(describe_finding(f))
        print(f"not submitted: QA found {len(errors)} error(s) in {case.root}; fix them, or submit anyway "
              "with --force (recorded in the case record)")
        return 1
    for f in errors:
        print(f"{describe_finding(f)} (submitted with --force)")
    n = submit(case, _user(args), force=args.force)
    print(f"submitted {args.case} as v{n:03d}" + (" (forced past QA errors)" if errors else ""))
    return 0


def cmd_approve(args) -> int:
    """``ctlabel approve``: approve the submitted version of a case.

    Returns
    -------
    int
        The exit status: 0.
    """
    from ctlabel.case.folder import Case
    from ctlabel.case.review import approve

    _refuse_served(Case.open(args.case).root, "approve")
    n = approve(Case.open(args.case), _user(args), comment=args.comment)
    print(f"approved v{n:03d} of {args.case}")
    return 0


def cmd_reject(args) -> int:
    """``ctlabel reject``: reject the submitted version of a case, with a comment.

    Returns
    -------
    int
        The exit status: 0.
    """
    from ctlabel.case.folder import Case
    from ctlabel.case.review import reject

    _refuse_served(Case.open(args.case).root, "reject")
    n = reject(Case.open(args.case), _user(args), args.comment)
    print(f"rejected v{n:03d} of {args.case}")
    return 0


def cmd_status(args) -> int:
    """``ctlabel status``: print the review state of each case.

    Returns
    -------
    int
        The exit status: 0.
    """
    from ctlabel.case.folder import find_cases
    from ctlabel.case.record import status

    cases = [c for p in args.cases for c in find_cases(p)]
    if not cases:
        raise InputError("no case folder found", " ".join(args.cases))
    st = [status(c) for c in cases]
    if args.json:
        print(json.dumps([s.to_dict() for s in st], indent=2))
    else:
        for s in st:
            extra = f" comment: {s.comment}" if s.comment else ""
            lock = f" locked by {s.locked_by}" if s.locked_by else ""
            print(f"{s.state:<12} {s.latest or '-':<6} {s.case}{lock}{extra}")
    return 0


def register(sub) -> None:
    """Add the review subcommands to the ``ctlabel`` parser's subparsers."""
    q = sub.add_parser("qa", help="quality checks of masks against their image and label table")
    q.add_argument("targets", nargs="+", metavar="CASE_OR_MASK", help="case folders, CASE@vN, mask files, or folders "
                   "of cases")
    q.add_argument("--image", help="the image for a mask file outside a case (without it such a mask is refused)")
    q.add_argument("--mask-only", action="store_true", help="check a mask file outside a case without its image:"
                   " the checks that need the image (geometry, HU) do not run and are listed")
    q.add_argument("--json", action="store_true", help="print findings as JSON")
    q.add_argument("--air-hu", type=float, default=-500.0, help="HU below which a voxel is air (default -500)")
    q.add_argument("--min-island-mm3", type=float, default=50.0, help="islands smaller than this are flagged "
                   "(default 50 mm3)")
    q.add_argument("--min-hole-mm2", type=float, default=0.0, help="enclosed holes of a slice smaller than this "
                   "area are not reported (default 0: every hole)")
    q.add_argument("--max-gap", type=int, default=5, help="interpolated slices farther than this from a painted "
                   "slice are flagged (default 5)")
    q.add_argument("--only", action="append", metavar="CHECK", help="run only these checks (repeat or comma list)")
    q.add_argument("--skip", action="append", metavar="CHECK", help="skip these checks (repeat or comma list)")
    q.add_argument("--scheduler", metavar="ADDRESS", help="check on a Dask cluster (tcp://host:8786), one task per "
                   "case; needs ctlabel[cluster] (docs/batch.md)")
    q.set_defaults(func=cmd_qa)

    c = sub.add_parser("compare", help="agreement of two masks: Dice, HD95 (mm), volumes (ml)")
    c.add_argument("a", nargs="?", help="mask file, CASE, CASE@vN or CASE@draft")
    c.add_argument("b", nargs="?", help="mask file, CASE, CASE@vN or CASE@draft")
    c.add_argument("--pairs", help="CSV of pairs (columns A,B; paths relative to the CSV)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument("--scheduler", metavar="ADDRESS", help="with --pairs: compare on a Dask cluster "
                   "(tcp://host:8786), one task per pair; needs ctlabel[cluster] (docs/batch.md)")
    c.set_defaults(func=cmd_compare)

    v = sub.add_parser("verify", help="check versions and the event chain of cases against their hashes")
    v.add_argument("cases", nargs="+", metavar="CASE", help="case folders (or folders of cases)")
    v.add_argument("--json", action="store_true", help="print the reports as JSON")
    v.add_argument("--skip-image", action="store_true", help="do not re-hash the CT image")
    v.set_defaults(func=cmd_verify)

    i = sub.add_parser("import", help="import a DICOM SEG, NRRD or NIfTI mask onto a case as a new version")
    i.add_argument("source", metavar="SEG_OR_LABELMAP", help="the DICOM SEG, NRRD or NIfTI label map")
    i.add_argument("--case", required=True, help="the case folder")
    i.add_argument("--user", help="who imports (default: login name)")
    i.add_argument("--role", choices=("annotator", "reviewer"), default="annotator",
                   help="the role the version is recorded with (default annotator)")
    i.add_argument("--format", choices=("dicom-seg", "nrrd", "nifti"), help="default: from the file")
    i.add_argument("--segments", help="import only these segment numbers (comma separated)")
    i.add_argument("--relabel", metavar="SEG=LABEL,...", help="label value for segment numbers (label map values), "
                   "e.g. 1=4; overrides matching segment names to the label table")
    i.set_defaults(func=cmd_import)

    for name, fn, hlp in (("submit", cmd_submit, "freeze the draft as a version and submit it for review"),
                          ("approve", cmd_approve, "approve the submitted version (reviewer)"),
                          ("reject", cmd_reject, "reject the submitted version with a comment (reviewer)")):
        p = sub.add_parser(name, help=hlp)
        p.add_argument("case", metavar="CASE", help="the case folder")
        p.add_argument("--user", help="who (default: login name)")
        if name == "submit":
            p.add_argument("--force", action="store_true", help="submit although QA finds errors (the errors "
                           "are recorded in the submitted event)")
        if name == "reject":
            p.add_argument("-m", "--comment", required=True, help="what to fix")
        elif name == "approve":
            p.add_argument("-m", "--comment", help="optional note")
        p.set_defaults(func=fn)

    s = sub.add_parser("review-status", help="review state, latest version and lock holder of cases")
    s.add_argument("cases", nargs="+", metavar="CASE", help="case folders (or folders of cases)")
    s.add_argument("--json", action="store_true", help="print the states as JSON")
    s.set_defaults(func=cmd_status)
