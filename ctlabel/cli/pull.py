"""``ctlabel pull``: registered by :mod:`ctlabel.cli.main`.

Exit codes: 0 every selected series was retrieved and converted (or skipped as holding no
volume); 1 some series failed or were not found (the others are done, reasons printed);
2 bad usage or an unusable server (``error: <URL>: <reason>``: unreachable, no answer within
``--timeout``, access refused, not a DICOMweb root, server error).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ctlabel.cli.common import env_value, positive_int

if TYPE_CHECKING:
    from ctlabel.dicomweb.pull import PullOptions


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def pull_options(args: argparse.Namespace, convert) -> PullOptions:
    """The :class:`ctlabel.dicomweb.pull.PullOptions` of the arguments that :func:`add_source_arguments` added.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``study``, ``series``, ``uids``, ``study_date``, ``modality``, ``timeout``,
        ``user``, ``password_env``, ``token_env``, ``keep_dicom``, ``jobs``).
    convert : ctlabel.intake.convert.ConvertOptions
        How the retrieved series are converted.

    Returns
    -------
    ctlabel.dicomweb.pull.PullOptions

    Raises
    ------
    InputError
        ``--user`` without ``--password-env`` (or the reverse), or an environment variable not set.
    """
    from ctlabel.dicomweb.pull import PullOptions
    from ctlabel.errors import InputError

    if args.password_env and not args.user:
        raise InputError("--password-env needs --user")
    if args.user and not args.password_env:
        raise InputError("--user needs --password-env VAR (the password is never given on the command line)")
    return PullOptions(
        modality=None if args.modality in ("*", "") else args.modality,
        study_date=args.study_date,
        studies=list(args.study or []),
        series=list(args.series or []),
        uids_csv=args.uids,
        timeout=args.timeout,
        user=args.user,
        password=env_value(args.password_env, "--password-env"),
        token=env_value(args.token_env, "--token-env"),
        keep_dicom=args.keep_dicom,
        jobs=args.jobs,
        convert=convert,
    )


def cmd_pull(args: argparse.Namespace) -> int:
    """``ctlabel pull``: search, retrieve and convert series from a DICOMweb server.

    Returns
    -------
    int
        The exit status: 0, or 1 when a series failed.
    """
    from ctlabel.dicomweb.pull import pull
    from ctlabel.intake.convert import ConvertOptions
    from ctlabel.io.labels import read_label_table

    options = pull_options(args, ConvertOptions(
        pseudonymize_salt=args.pseudonymize_uids,
        label_table=read_label_table(args.labels) if args.labels else None,
        irregular=args.irregular,
        keep_descriptions=args.keep_descriptions,
    ))
    report = pull(args.url, args.output, options, progress=not (args.quiet or args.json))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary_text())
    return 0 if report.ok else 1


def add_source_arguments(p: argparse.ArgumentParser, *, keep_dicom_help: str) -> argparse._ArgumentGroup:
    """Add the options that select series on a DICOMweb server and reach it (``ctlabel pull``, ``team add-cases``).

    Adds ``--study``, ``--series``, ``--uids``, ``--study-date``, ``--modality`` (what to pull),
    ``--timeout``, ``--user``, ``--password-env``, ``--token-env`` (the server) and ``--keep-dicom``;
    :func:`pull_options` reads them back.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The command's parser.
    keep_dicom_help : str
        Help of ``--keep-dicom`` (where the downloaded DICOM stays).

    Returns
    -------
    argparse._ArgumentGroup
        The "server" group (a command may add its own options to it).
    """
    f = p.add_argument_group("what to pull from a DICOMweb server (at least one; never by patient)")
    f.add_argument("--study", action="append", metavar="UID", help="a StudyInstanceUID (repeatable): its series")
    f.add_argument("--series", action="append", metavar="UID", help="a SeriesInstanceUID (repeatable)")
    f.add_argument("--uids", metavar="CSV", help="a CSV file with a header naming StudyInstanceUID and/or "
                   "SeriesInstanceUID columns; a row with only a study selects its series")
    f.add_argument("--study-date", metavar="FROM-TO", help="studies of these dates: YYYYMMDD-YYYYMMDD (either side "
                   "may be empty) or YYYYMMDD; not with --study/--series/--uids")
    f.add_argument("--modality", default="CT", help="only series of this modality (default CT; '*' for any)")
    a = p.add_argument_group("DICOMweb server")
    a.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                   help="give up on a server that does not answer within S seconds (default 60)")
    a.add_argument("--user", help="HTTP basic authentication user (with --password-env)")
    a.add_argument("--password-env", metavar="VAR", help="environment variable holding the basic-auth password")
    a.add_argument("--token-env", metavar="VAR", help="environment variable holding a bearer token")
    a.add_argument("--keep-dicom", action="store_true", help=keep_dicom_help)
    return a


def register(sub) -> None:
    """Add ``pull`` to the ``ctlabel`` parser's subparsers."""
    p = sub.add_parser(
        "pull", help="search a DICOMweb server (PACS), retrieve CT series and convert them into case folders",
        description="Search a DICOMweb server by patient-free filters (QIDO-RS), retrieve the series (WADO-RS) into "
                    "OUT/.pull/ (an interrupted pull resumes), convert them like `ctlabel convert` into case folders "
                    "in OUT, record where each came from in <case>/retrieve.json, and delete the downloaded DICOM. "
                    "Exit 0: done; 1: some series failed; 2: bad usage or the server cannot be used. "
                    "See docs/pull.md.")
    p.add_argument("url", metavar="URL", help="the DICOMweb root, e.g. http://pacs:8042/dicom-web")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder for case folders")
    add_source_arguments(p, keep_dicom_help="keep the downloaded DICOM in OUT/.pull/")
    c = p.add_argument_group("conversion (as ctlabel convert)")
    c.add_argument("-j", "--jobs", type=positive_int, default=None,
                   help="cores to use for the conversion (default: all cores)")
    c.add_argument("--labels", help="labels.tsv to put in every new case (default: built-in table)")
    c.add_argument("--pseudonymize-uids", metavar="SALT", help="replace UIDs by salted hashes (also in retrieve.json)")
    c.add_argument("--keep-descriptions", action="store_true",
                   help="write series descriptions as they are (they may hold names)")
    c.add_argument("--irregular", choices=("keep", "error", "split"), default="keep",
                   help="irregular spacing, missing slices, tilt: keep with a warning (default), fail, or split")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_pull)
