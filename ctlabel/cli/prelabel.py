"""``ctlabel prelabel CASE --structures body,lungs,bone,air``: classical pre-labels into the draft.

Registered by :mod:`ctlabel.cli.main`. Bad input (a structure without a label, labels that already
hold voxels, a case awaiting review) raises :class:`~ctlabel.errors.CtlabelError`, printed as
``error: <file>: <reason>`` with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import time


def cmd_prelabel(args: argparse.Namespace) -> int:
    """Run :func:`ctlabel.prelabel.run.prelabel_case` and print what it wrote."""
    from ctlabel.case.folder import Case
    from ctlabel.prelabel.run import prelabel_case

    case = Case.open(args.case)
    structures = [s for v in args.structures for s in v.split(",")]
    t0 = time.perf_counter()
    result = prelabel_case(case, structures, args.user)
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({**result, "seconds": round(seconds, 3)}, indent=2))
        return 0
    for value, info in result["labels"].items():
        print(f"{value:>5}  {info['name']:<20} {info['structure']:<6} {info['voxels']:>10} voxels")
    print(f"pre-labelled {len(result['labels'])} label(s) in {seconds:.1f} s into {result['draft']}; "
          "correct them in the viewer before submitting")
    return 0


def register(sub) -> None:
    """Add ``prelabel`` to the ``ctlabel`` parser's subparsers."""
    # the structures are named here, not imported: ctlabel.prelabel loads scipy, which --help must not
    p = sub.add_parser("prelabel", help="classical pre-labels (body, lungs, bone, air) into the empty labels "
                       "of a case's draft")
    p.add_argument("case", metavar="CASE", help="the case folder")
    p.add_argument("--structures", action="append", required=True, metavar="LIST",
                   help="comma-separated, among body,lungs,bone,air; each goes to the label of that name "
                        "in labels.tsv (lungs: lung_right+lung_left or lung; bone: bone, never vertebrae); "
                        "a structure the case's table has no label for is refused, naming those it offers")
    p.add_argument("--user", help="who runs it (default: login name)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_prelabel)
