"""``ctlabel export-seg CASE[@vN] OUT.dcm``: registered by :mod:`ctlabel.cli.main`.

Exit codes: 0 the SEG was written; 2 it was not (``error: <file>: <reason>``): no such
case or version, source DICOM missing or not matching, a tilted case, a pseudonymized
case without ``--dicom``, paint on a padded slice, bad options.
"""

from __future__ import annotations

import argparse
import json


def cmd_export_seg(args: argparse.Namespace) -> int:
    """``ctlabel export-seg``: write a case's mask as a DICOM SEG (optionally stored over STOW-RS).

    Returns
    -------
    int
        The exit status: 0.
    """
    from ctlabel.errors import InputError
    from ctlabel.export.seg import export_seg

    if args.uid_salt and not args.deidentify:
        raise InputError("--uid-salt only applies with --deidentify")
    rep = export_seg(args.case, args.out, dicom=args.dicom, deidentify=args.deidentify, uid_salt=args.uid_salt)
    pushed = None
    if args.push:
        from ctlabel.cli.common import env_value
        from ctlabel.dicomweb.push import push

        if bool(args.user) != bool(args.password_env):
            raise InputError("--user and --password-env go together (the password is never on the command line)")
        pushed = push(args.push, [rep.out], timeout=args.timeout, user=args.user,
                      password=env_value(args.password_env, "--password-env"),
                      token=env_value(args.token_env, "--token-env"))
    if args.json:
        print(json.dumps({**rep.to_dict(), "pushed": pushed.to_dict() if pushed else None}, indent=2))
        return 0
    state = f"approved by {rep.reviewer}" if rep.reviewer else "not approved"
    print(f"wrote {rep.out}: {rep.version} of {rep.case} ({state}), "
          f"{len(rep.segments)} segment(s), {rep.frames} frame(s) on {len(rep.referenced_instances)} source "
          f"instance(s) matched by {rep.matched_by}" + ("; de-identified" if rep.deidentified else ""))
    for s in rep.segments:
        print(f"  segment {s['SegmentNumber']}: {s['Name']} (label {s['Label']}, {s['AlgorithmType']}, "
              f"{s['Category']} / {s['Type']})")
    if rep.padded_slices:
        print(f"  {len(rep.padded_slices)} padded slice(s) have no source instance and no frame")
    if pushed:
        print(f"stored on {pushed.url} (STOW-RS): {', '.join(pushed.stored)}")
    return 0


def register(sub) -> None:
    """Add ``export-seg`` to the ``ctlabel`` parser's subparsers."""
    e = sub.add_parser("export-seg", help="write a case version as a DICOM SEG referencing its source instances",
                       description="Write a DICOM Segmentation (BINARY) of a case version: the approved one by "
                                   "default, else the latest; CASE@vN picks one. Exit 0: written; 2: refused or "
                                   "bad usage (error: <file>: <reason>).")
    e.add_argument("case", metavar="CASE[@vN]", help="a case folder, optionally @vN")
    e.add_argument("out", metavar="OUT.dcm", help="the SEG file to write")
    e.add_argument("--dicom", metavar="DIR", help="folder holding the source series (matched by SOPInstanceUID, "
                   "or by pixel hash for a case with pseudonymized UIDs)")
    e.add_argument("--deidentify", action="store_true",
                   help="write dummy patient/study attributes and pseudonymized UIDs (PS3.15 Annex E)")
    e.add_argument("--uid-salt", metavar="SALT", help="with --deidentify: salt of the UID pseudonyms (default: "
                   "the case's own pseudonyms if it has them, else random)")
    e.add_argument("--push", metavar="URL", help="store the SEG on this DICOMweb server (STOW-RS) after writing it")
    e.add_argument("--timeout", type=float, default=60.0, metavar="S", help="with --push: seconds to wait (60)")
    e.add_argument("--user", help="with --push: HTTP basic authentication user (with --password-env)")
    e.add_argument("--password-env", metavar="VAR", help="with --push: environment variable holding the password")
    e.add_argument("--token-env", metavar="VAR", help="with --push: environment variable holding a bearer token")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=cmd_export_seg)
