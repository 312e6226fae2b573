"""The ``ctlabel`` command line.

Bad input ends with a one-line ``error: <file>: <reason>`` and exit status 2;
no traceback reaches the user for a :class:`~ctlabel.errors.CtlabelError`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from ctlabel.cli.common import positive_int
from ctlabel.errors import CtlabelError, InputError

Handler = Callable[[argparse.Namespace], int]


def _fmt_spacing(sp) -> str:
    return "-" if sp is None else "x".join(f"{v:.3g}" for v in sp)


def _files(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")


def nothing_found(problems) -> str:
    """Why a scan found no stack: no DICOM files at all, or the files that could not be read and why."""
    import os.path

    from ctlabel.dicom.walk import ignored_by_name

    def listed(ps) -> str:
        more = f"; and {len(ps) - 3} more" if len(ps) > 3 else ""
        return "; ".join(f"{os.path.basename(p.path)}: {p.reason}" for p in ps[:3]) + more

    bad = [p for p in problems if p.fatal]
    if bad:
        return f"no readable DICOM series ({_files(len(bad))} not readable: {listed(bad)})"
    ignored = sum(ignored_by_name(p) for p in problems)
    other = [p for p in problems if not ignored_by_name(p)]
    why = ([f"{_files(ignored)} ignored as not DICOM by name"] if ignored else []) + (
        [f"{_files(len(other))} skipped: {listed(other)}"] if other else [])
    return "no DICOM files found" + (f" ({'; '.join(why)})" if why else "")


def cmd_scan(args: argparse.Namespace) -> int:
    """``ctlabel scan``: list the stacks found under the paths, with the case folder each would become.

    Returns
    -------
    int
        The exit status: 0 (a path that holds no readable DICOM series is an
        :class:`~ctlabel.errors.InputError`: exit 2).
    """
    from ctlabel.case.naming import stack_case_name
    from ctlabel.dicom.scan import find_series
    from ctlabel.dicom.walk import ignored_by_name, ignored_text

    result = find_series(*args.paths)
    if not result.stacks:
        raise InputError(nothing_found(result.problems), ", ".join(args.paths))
    if args.json:
        print(json.dumps({
            "stacks": [{**s.summary(), "case_name": stack_case_name(s)} for s in result.stacks],
            "problems": [p.to_dict() for p in result.problems],
        }, indent=2))
        return 0
    print(f"{'#':>3}  {'kind':<9} {'description':<30} {'slices':>6}  {'size':<13} {'spacing mm':<17} warnings")
    for s in result.stacks:
        size = "x".join(str(v) for v in s.size)
        warn = "; ".join(w.split(":", 1)[0] for w in s.warnings)
        if s.references:
            warn = (warn + "; " if warn else "") + "refers to " + ", ".join(r[-12:] for r in s.references)
        if s.split_off:
            warn = (warn + "; " if warn else "") + s.split_off
        desc = (s.description or "(no description)")[:30]
        print(f"{s.index:>3}  {s.kind:<9} {desc:<30} {s.n_slices:>6}  {size:<13} {_fmt_spacing(s.spacing):<17} {warn}")
    bad = [p for p in result.problems if p.fatal]
    notes = [p for p in result.problems if not p.fatal and not ignored_by_name(p)]
    for p in notes:
        print(f"note: {p.path}: {p.reason}")
    for p in bad:
        print(f"unreadable: {p.path}: {p.reason}")
    ignored = ignored_text([p.path for p in result.problems if ignored_by_name(p)])
    if ignored:
        print(ignored)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """``ctlabel convert``: convert DICOM series into case folders and print the report.

    Returns
    -------
    int
        The exit status: 0, or 1 when a series failed.
    """
    if "numpy" not in sys.modules:
        # Converting multiplies 3 x 3 and 4 x 4 matrices at most, and --jobs is its CPU budget; OpenBLAS's
        # own threads (one per core, started with numpy) would only spin: 0.17 s of CPU in a 1 s conversion.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from ctlabel.intake.convert import ConvertOptions, convert
    from ctlabel.io.labels import read_label_table

    options = ConvertOptions(
        pseudonymize_salt=args.pseudonymize_uids,
        label_table=read_label_table(args.labels) if args.labels else None,
        irregular=args.irregular,
        overwrite_image=args.overwrite_image,
        keep_descriptions=args.keep_descriptions,
    )
    report = convert(args.sources, args.output, jobs=args.jobs, options=options, progress=not args.quiet,
                     scheduler=args.scheduler)
    if args.report:
        from ctlabel.io.atomic import write_json

        write_json(args.report, report.to_dict())
    print(report.summary_text())
    if args.irregular != "split" and any(w.startswith("non_uniform_spacing") for c in report.converted
                                         for w in c["warnings"]):
        print("  convert with --irregular split to keep every slice of an unevenly spaced series exact")
    return 0 if report.ok else 1


def cmd_view(args: argparse.Namespace) -> int:
    """Open napari with the ctlabel widgets on ``args.path`` (default: the sample body CT).

    The path and the display are checked before napari or Qt is imported, so that a bad
    path or a headless machine ends with one ``error:`` line and exit status 2, not a
    traceback or Qt's abort.
    """
    # The viewer lives in the plugin package; the core names it only here, by string,
    # so that importing ctlabel never imports a GUI toolkit.
    import importlib
    import importlib.util

    review = bool(getattr(args, "review", False))
    if args.path is not None:
        _check_viewable(args.path)
    if review:
        from ctlabel.case.folder import Case

        if args.path is None or not Case.is_case(args.path):
            raise InputError("--review opens a case folder (ctlabel view CASE --review)", args.path or "")
    problem = _display_problem()
    if problem is not None:
        from ctlabel.cli.command import self_command

        me = self_command()
        again = f"xvfb-run -a {me} view" + (f" {args.path}" if args.path else "")
        print(f"error: no display: {problem}. Run the viewer under a virtual display ({again}), "
              f"or work without one: {me} convert SRC -o OUT, or {me} demo --batch", file=sys.stderr)
        return 2
    if importlib.util.find_spec("napari") is None:
        print("error: the viewer needs napari. Install it with: pip install 'ctlabel[napari]'", file=sys.stderr)
        return 2
    launch = importlib.import_module("ctlabel_napari.launch").launch
    return launch(args.path, annotator=args.annotator, review=review)


def _display_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why Qt could not open a window here, or None when it can.

    Only Linux needs ``DISPLAY`` (X11) or ``WAYLAND_DISPLAY``; a ``QT_QPA_PLATFORM`` that
    needs neither (``offscreen``, ``vnc``, ``eglfs``...) is taken as the user's choice.
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    x11, wayland = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    wanted = env.get("QT_QPA_PLATFORM", "")
    platforms = [p.split(":", 1)[0].strip().lower() for p in wanted.split(";") if p.strip()]
    if not platforms:  # Qt's own choice: Wayland when there is one, else X11
        return None if x11 or wayland else "neither DISPLAY nor WAYLAND_DISPLAY is set"
    for p in platforms:
        needs_x11, needs_wayland = p == "xcb", p.startswith("wayland")
        if (needs_x11 and x11) or (needs_wayland and wayland) or not (needs_x11 or needs_wayland):
            return None
    return f"QT_QPA_PLATFORM={wanted} needs {'DISPLAY' if 'xcb' in platforms else 'WAYLAND_DISPLAY'}, which is not set"


def _check_viewable(path: str | os.PathLike) -> None:
    """Raise :class:`~ctlabel.errors.InputError` unless ``ctlabel view`` can open ``path``.

    It opens a case folder, a NIfTI image or mask, a DICOM file or DICOMDIR, or a folder
    holding DICOM files. Only as much is read as it takes to tell.
    """
    from pathlib import Path

    from ctlabel.case.folder import Case, find_cases
    from ctlabel.dicom.records import read_header
    from ctlabel.dicom.walk import never_dicom
    from ctlabel.errors import DicomReadError, InputError

    opens = "ctlabel view opens a DICOM folder, DICOMDIR or DICOM file, a case folder or a NIfTI image"
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", p)
    if p.is_dir():
        if Case.is_case(p):
            return
        for root, dirs, names in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                f = Path(root) / name
                if name.startswith(".") or never_dicom(name):
                    continue
                if name.upper() == "DICOMDIR":
                    return
                try:
                    with open(f, "rb") as fh:
                        if fh.read(132)[128:] == b"DICM":
                            return
                except OSError:
                    continue
        cases = find_cases(p)
        if cases:
            raise InputError(f"no DICOM files here, but {len(cases)} case folder(s) below it: open one of them, "
                             f"e.g. {cases[0].root}", p)
        raise InputError(f"no DICOM files in this folder; {opens}", p)
    if p.name.endswith((".nii", ".nii.gz")):
        return
    try:
        read_header(p)
    except DicomReadError as exc:
        raise InputError(f"{exc.reason}; {opens}", p) from None


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: the viewer on the sample body CT with a display, else the batch conversion of the samples.

    The batch converts ``sample_data/totalseg_body_ct`` (20 slices of a real abdomen CT) and
    the synthetic phantom into case folders under ``args.output`` with a JSON report.
    """
    import importlib.util
    from pathlib import Path

    from ctlabel.errors import CaseError

    sample = Path(__file__).resolve().parents[2] / "sample_data" / "totalseg_body_ct" / "dicom"
    if not sample.is_dir():
        raise CaseError("the sample CT is not installed (it ships in the source repository)", sample)
    real_display = not sys.platform.startswith("linux") or os.environ.get("DISPLAY") or os.environ.get(
        "WAYLAND_DISPLAY")
    if (not args.batch and real_display and _display_problem() is None
            and importlib.util.find_spec("napari") is not None):
        return cmd_view(argparse.Namespace(path=None, annotator=None))

    from ctlabel.intake.convert import convert
    from ctlabel.intake.synthetic import write_phantom_sample

    out = Path(args.output)
    phantom = out / "phantom_source"
    if not (phantom / "dicom").is_dir():
        write_phantom_sample(phantom)
    sources = [sample, phantom / "dicom"]
    print("converting the sample data (a real 20-slice body CT and the synthetic phantom: "
          f"{', '.join(str(s) for s in sources)}) into {out / 'cases'}")
    report = convert(sources, out / "cases")
    from ctlabel.io.atomic import write_json

    write_json(out / "report.json", report.to_dict())
    for case in report.converted:
        print(f"  {case['case']}: {'x'.join(map(str, case['size']))} voxels, "
              f"{'x'.join(f'{v:.3g}' for v in case['spacing'])} mm, {case['dtype']}")
    print(report.summary_text())
    print(f"report: {out / 'report.json'}")
    if report.converted:  # a command that runs as printed: the running ctlabel's path, a virtual display if none
        import shlex
        import shutil

        from ctlabel.cli.command import self_command

        view = f"{self_command()} view {shlex.quote(str(report.converted[0]['case']))}"
        headless = _display_problem() is not None and shutil.which("xvfb-run") is not None
        print(f"label a case{' (no display here, so under a virtual one)' if headless else ''}: "
              f"{'xvfb-run -a ' * headless}{view}")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The ``ctlabel`` argument parser, with every command group's ``register(sub)``.

    Returns
    -------
    argparse.ArgumentParser
    """
    from ctlabel._version import __version__

    p = argparse.ArgumentParser(prog="ctlabel", description="CT segmentation labeling toolkit")
    p.add_argument("--version", action="version", version=f"ctlabel {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scan", help="list the image stacks and objects under DICOM folders")
    s.add_argument("paths", nargs="+", help="folders, DICOM files or DICOMDIRs")
    s.add_argument("--json", action="store_true", help="print the stacks as JSON")
    s.set_defaults(func=cmd_scan)

    c = sub.add_parser("convert", help="convert DICOM volumes to case folders (NIfTI + provenance)")
    c.add_argument("sources", nargs="+", help="folders, DICOM files or DICOMDIRs")
    c.add_argument("-o", "--output", required=True, help="output folder for case folders")
    c.add_argument("-j", "--jobs", type=positive_int, default=None,
                   help="cores to use: single-threaded worker processes (default: all cores)")
    c.add_argument("--scheduler", metavar="ADDRESS",
                   help="convert on a Dask cluster (tcp://host:8786): one task per series, read and written by the"
                        " workers on a shared file system; needs ctlabel[cluster] (docs/batch.md)")
    c.add_argument("--skip-existing", action="store_true",
                   help="the default, kept for scripts: a series whose case exists (same source) is skipped")
    c.add_argument("--overwrite-image", action="store_true",
                   help="replace the image of an existing case of the same source, keeping its masks"
                        " (refused when the grid differs; recorded in the case record)")
    c.add_argument("--report", help="write a JSON report of converted, skipped and failed series")
    c.add_argument("--labels", help="labels.tsv to put in every new case (default: built-in table)")
    c.add_argument("--pseudonymize-uids", metavar="SALT", help="replace UIDs by salted hashes")
    c.add_argument("--keep-descriptions", action="store_true",
                   help="write series descriptions as they are (they may hold names); by default only known-safe"
                        " words are kept (docs/deidentification.md)")
    c.add_argument("--irregular", choices=("keep", "error", "split"), default="keep",
                   help="non-uniform spacing, missing slices, gantry tilt: keep with a warning (default; slices"
                        " missing from a uniform grid are padded), fail, or split each uniform run into its own case")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=cmd_convert)

    v = sub.add_parser("view", help="open napari with the ctlabel widgets")
    v.add_argument("path", nargs="?", help="DICOM folder/file, case folder or NIfTI (default: sample CT)")
    v.add_argument("--annotator", help="annotator id recorded in provenance")
    v.add_argument("--review", action="store_true", help="open the case read-only in the Review widget, to "
                   "approve or reject it (takes no lock)")
    v.set_defaults(func=cmd_view)

    d = sub.add_parser("demo", help="the main job: open the sample CT, or convert the sample data without a display")
    d.add_argument("--batch", action="store_true", help="convert even when a display is present")
    d.add_argument("-o", "--output", default="out", help="output folder for the batch (default: out)")
    d.set_defaults(func=cmd_demo)

    from ctlabel.cli import review as review_cli

    review_cli.register(sub)
    from ctlabel.cli import prelabel as prelabel_cli

    prelabel_cli.register(sub)
    from ctlabel.cli import export as export_cli

    export_cli.register(sub)
    from ctlabel.cli import export_seg as seg_cli

    seg_cli.register(sub)
    from ctlabel.cli import pull as pull_cli

    pull_cli.register(sub)
    from ctlabel.cli import team as team_cli

    team_cli.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``ctlabel`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The command's exit status; 2 for a :class:`~ctlabel.errors.CtlabelError` or a file
        system refusal (printed as ``error: <file>: <reason>``), 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from ctlabel.cli.hints import PARSER, message

    setattr(args, PARSER, parser)  # the flags a core error's options name are this command's
    try:
        return int(args.func(args) or 0)
    except CtlabelError as exc:
        print(f"error: {message(exc, args)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file system refusal (permissions, full disk): say which file and why
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
