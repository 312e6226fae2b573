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

from ctlabel.errors import CtlabelError

Handler = Callable[[argparse.Namespace], int]


def _fmt_spacing(sp) -> str:
    return "-" if sp is None else "x".join(f"{v:.3g}" for v in sp)


def cmd_scan(args: argparse.Namespace) -> int:
    from ctlabel.dicom_scan import find_series

    result = find_series(*args.paths)
    if args.json:
        print(json.dumps({
            "stacks": [s.summary() for s in result.stacks],
            "problems": [p.to_dict() for p in result.problems],
        }, indent=2))
        return 0
    print(f"{'#':>3}  {'kind':<9} {'description':<30} {'slices':>6}  {'size':<13} {'spacing mm':<17} warnings")
    for s in result.stacks:
        size = "x".join(str(v) for v in s.size)
        warn = "; ".join(w.split(":", 1)[0] for w in s.warnings)
        if s.references:
            warn = (warn + "; " if warn else "") + "refers to " + ", ".join(r[-12:] for r in s.references)
        desc = (s.description or "(no description)")[:30]
        print(f"{s.index:>3}  {s.kind:<9} {desc:<30} {s.n_slices:>6}  {size:<13} {_fmt_spacing(s.spacing):<17} {warn}")
    bad = [p for p in result.problems if p.fatal]
    notes = [p for p in result.problems if not p.fatal and "by name" not in p.reason]
    for p in notes:
        print(f"note: {p.path}: {p.reason}")
    for p in bad:
        print(f"unreadable: {p.path}: {p.reason}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ctlabel.convert import ConvertOptions, convert
    from ctlabel.labels import read_label_table

    options = ConvertOptions(
        pseudonymize_salt=args.pseudonymize_uids,
        label_table=read_label_table(args.labels) if args.labels else None,
        skip_existing=args.skip_existing,
        irregular=args.irregular,
    )
    report = convert(args.sources, args.output, jobs=args.jobs, options=options, progress=not args.quiet)
    if args.report:
        from ctlabel.atomic import write_json

        write_json(args.report, report.to_dict())
    print(report.summary_text())
    return 0 if report.ok else 1


def cmd_view(args: argparse.Namespace) -> int:
    # The viewer lives in the plugin package; the core names it only here, by string,
    # so that importing ctlabel never imports a GUI toolkit.
    import importlib
    import importlib.util

    if importlib.util.find_spec("napari") is None:
        print("error: the viewer needs napari. Install it with: pip install 'ctlabel[napari]'", file=sys.stderr)
        return 2
    launch = importlib.import_module("ctlabel_napari.launch").launch
    return launch(args.path, annotator=args.annotator)


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: the viewer on the sample CT with a display, else the sample batch conversion."""
    import importlib.util

    if not args.batch and os.environ.get("DISPLAY") and importlib.util.find_spec("napari") is not None:
        return cmd_view(argparse.Namespace(path=None, annotator=None))
    from pathlib import Path

    from ctlabel.convert import convert
    from ctlabel.synthetic import write_phantom_sample

    samples = Path(__file__).resolve().parent.parent / "sample_data"
    out = Path(args.output)
    phantom = out / "phantom_source"
    if not (phantom / "dicom").is_dir():
        write_phantom_sample(phantom)
    sources = [samples / "philips_ct_5mm", phantom / "dicom"]
    print(f"converting the sample data ({', '.join(str(s) for s in sources)}) into {out / 'cases'}")
    report = convert(sources, out / "cases")
    from ctlabel.atomic import write_json

    write_json(out / "report.json", report.to_dict())
    for case in report.converted:
        print(f"  {case['case']}: {'x'.join(map(str, case['size']))} voxels, "
              f"{'x'.join(f'{v:.3g}' for v in case['spacing'])} mm, {case['dtype']}")
    print(report.summary_text())
    print(f"report: {out / 'report.json'}")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    from ctlabel import __version__

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
    c.add_argument("-j", "--jobs", type=int, default=None,
                   help="cores to use: single-threaded worker processes (default: all cores)")
    c.add_argument("--skip-existing", action="store_true", help="skip volumes whose case folder exists")
    c.add_argument("--report", help="write a JSON report of converted, skipped and failed series")
    c.add_argument("--labels", help="labels.tsv to put in every new case (default: built-in table)")
    c.add_argument("--pseudonymize-uids", metavar="SALT", help="replace UIDs by salted hashes")
    c.add_argument("--irregular", choices=("keep", "error"), default="keep",
                   help="non-uniform spacing, missing slices, gantry tilt: keep with a warning (default) or fail")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=cmd_convert)

    v = sub.add_parser("view", help="open napari with the ctlabel widgets")
    v.add_argument("path", nargs="?", help="DICOM folder/file, case folder or NIfTI (default: sample CT)")
    v.add_argument("--annotator", help="annotator id recorded in provenance")
    v.set_defaults(func=cmd_view)

    d = sub.add_parser("demo", help="the main job: open the sample CT, or convert the sample data without a display")
    d.add_argument("--batch", action="store_true", help="convert even when a display is present")
    d.add_argument("-o", "--output", default="out", help="output folder for the batch (default: out)")
    d.set_defaults(func=cmd_demo)

    try:
        from ctlabel import review_cli
    except ImportError:
        review_cli = None
    if review_cli is not None:
        review_cli.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CtlabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
