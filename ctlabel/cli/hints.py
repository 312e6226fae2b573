"""The flags a command adds to a core error.

The core never names a command-line flag (``docs/architecture.md``): an error that a parameter
of the call would resolve lists that parameter in :attr:`~ctlabel.errors.CtlabelError.options`
(``"dicom"``, ``"include_unapproved"``...). The command that prints it looks the parameter up
among the destinations of its own parser and adds the flag: ``(--dicom DIR)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

#: The attribute of the parsed arguments that holds the parser (``main`` sets it).
PARSER = "_ctlabel_parser"


def _chain(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[argparse.ArgumentParser]:
    """The parser and the subparsers that parsed ``args``, outermost first."""
    chain = [parser]
    while True:
        subs = [a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = subs and getattr(args, subs[0].dest, None)
        if not chosen or chosen not in subs[0].choices:
            return chain
        chain.append(subs[0].choices[chosen])


def flag(option: str, args: argparse.Namespace | None = None) -> str:
    """The flag of the command that ran for the API parameter ``option``, with its metavar.

    Parameters
    ----------
    option : str
        A parameter name from :attr:`~ctlabel.errors.CtlabelError.options` (``"dicom"``).
    args : argparse.Namespace, optional
        The parsed arguments; with the parser ``main`` put in them, the flag is the one that
        command defines (``--dicom DIR``; a positional argument by its name in the usage, ``N``),
        else the parameter's name as a flag (``--dicom``).

    Returns
    -------
    str
    """
    parser = getattr(args, PARSER, None) if args is not None else None
    if parser is not None and args is not None:
        for p in reversed(_chain(parser, args)):
            for a in p._actions:
                longs = [s for s in a.option_strings if s.startswith("--")]
                if a.dest == option and longs:
                    takes = a.nargs != 0
                    return longs[0] + (f" {a.metavar or a.dest.upper()}" if takes else "")
                if a.dest == option and not a.option_strings:  # a positional: named as the usage names it
                    return str(a.metavar or a.dest.upper())
    return "--" + option.replace("_", "-")


def with_flags(text: str, options: Iterable[str], args: argparse.Namespace | None = None) -> str:
    """``text`` followed by the flags of ``options`` in parentheses (``text`` alone when there are none)."""
    flags = [flag(o, args) for o in options]
    return f"{text} ({', '.join(flags)})" if flags else text


def message(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """The printed message of ``exc``: its text, and the flags of its ``options``.

    Parameters
    ----------
    exc : BaseException
        Usually a :class:`~ctlabel.errors.CtlabelError`; another exception is its text.
    args : argparse.Namespace, optional
        The parsed arguments of the command that ran (see :func:`flag`).

    Returns
    -------
    str
    """
    return with_flags(str(exc), getattr(exc, "options", ()), args)
