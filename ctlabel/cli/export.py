"""``ctlabel export-dataset``: registered by :mod:`ctlabel.cli.main`.

Exit codes: 0 every case exported; 1 a case was refused or failed (the others are
exported and the reasons printed); 2 bad usage (``error: <file>: <reason>``: a path
that does not exist, no case found, a non-empty OUT without ``--update``, bad options).
"""

from __future__ import annotations

import argparse
import json

from ctlabel.cli.hints import with_flags


def cmd_export_dataset(args: argparse.Namespace) -> int:
    """``ctlabel export-dataset``: export reviewed cases as a training set and print the report.

    Returns
    -------
    int
        The exit status: 0, or 1 when a case was refused or failed.
    """
    from ctlabel.export.run import ExportOptions, export_dataset
    from ctlabel.intake.batch import executor

    options = ExportOptions(fmt=args.format, include_unapproved=args.include_unapproved, update=args.update,
                            reviewed_only=args.reviewed_only,
                            resample_tilted=args.resample_tilted, split=args.split,
                            validation_fraction=args.validation_fraction, consecutive=args.consecutive)
    with executor(1, args.scheduler) as pool:
        report = export_dataset(args.sources, args.out, options, pool)
    for r in report.refused:  # the core names the parameters a refusal is about; the command adds its flags
        r["reason"] = with_flags(r["reason"], r.get("options", ()), args)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    for e in report.exported:
        notes = [] if e["approved"] else ["UNAPPROVED"]
        if e.get("review") == "accepted-by-policy":
            notes.append("accepted by the review policy, not reviewed")
        if e["resampled"]:
            notes.append("resampled (gantry tilt)")
        if e["padded_slices"]:
            notes.append(f"{len(e['padded_slices'])} padded slice(s) kept as air")
        print(f"exported {e['id']} {e['version']}" + (f" ({', '.join(notes)})" if notes else ""))
    for r in report.refused:
        print(f"refused: {r['reason']}")
    for p in report.problems:
        print(f"problem: {p}")
    print(f"{len(report.exported)} case(s) exported, {len(report.refused)} refused, to {report.out} "
          f"({report.fmt})" + (f"; manifest {report.manifest}" if report.manifest else "; nothing written"))
    return 0 if report.ok else 1


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def register(sub) -> None:
    """Add ``export-dataset`` to the ``ctlabel`` parser's subparsers."""
    e = sub.add_parser("export-dataset", help="export approved cases as an nnU-Net, MONAI or BIDS training set",
                       description="Export the approved version of each case, with a provenance manifest. "
                                   "Exit 0: all exported; 1: some case refused (reasons printed); 2: bad usage.")
    e.add_argument("sources", nargs="+", metavar="PROJECT_OR_CASES", help="case folders or folders of cases")
    e.add_argument("out", metavar="OUT", help="the dataset folder (empty or new, unless --update)")
    e.add_argument("--format", required=True, choices=("nnunet", "monai", "bids"), help="the layout of the dataset")
    e.add_argument("--include-unapproved", action="store_true",
                   help="also export cases without an approved version (latest version, else the draft), "
                        "marked unapproved in the manifest")
    e.add_argument("--reviewed-only", action="store_true",
                   help="leave out the cases the project's review policy accepted without a reviewer "
                        "(they are listed as refused)")
    e.add_argument("--update", action="store_true",
                   help="add to or refresh an earlier export in OUT; files it did not write are never touched")
    e.add_argument("--resample-tilted", action="store_true",
                   help="resample gantry-tilted (sheared) cases onto the orthonormal grid instead of refusing them")
    e.add_argument("--split", type=int, metavar="K", help="nnunet: write splits_final.json with K folds "
                   "(kept from the earlier export with --update)")
    e.add_argument("--validation-fraction", type=_fraction, default=None, metavar="F",
                   help="monai: share of cases in validation (default 0.2, or the earlier export's with --update; "
                        "deterministic by case name)")
    e.add_argument("--consecutive", action="store_true",
                   help="renumber labels 1..n also for monai/bids (nnunet always does)")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.add_argument("--scheduler", metavar="ADDRESS", help="write the cases on a Dask cluster (tcp://host:8786), one "
                   "task per case, on a file system shared with the workers; needs ctlabel[cluster] (docs/batch.md)")
    e.set_defaults(func=cmd_export_dataset)
