"""``ctlabel team readers`` and ``ctlabel team reads``: double reading on the command line.

``readers PROJECT [N] [--more-reads-below DICE] [--fusion M]`` shows or sets the project's readers
per case (the lead, on the project folder); ``reads CASE [--dir D]`` shows a case's reads 1..N,
the agreement of the first two (Dice, HD95 per label) and the fused proposal's per-reader figures,
and with ``--dir`` downloads the reads (a reviewer). :func:`beat`:
the heartbeat the review commands send.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def beat(c, name: str) -> None:
    """A heartbeat for a reviewer's command (their time on the case counts, docs/team.md); never in the way."""
    from ctlabel.team.client import ClientError

    try:
        c.heartbeat(name)
    except ClientError:
        pass  # the command itself says what the server thinks


def cmd_readers(args) -> int:
    """Show or set the project's readers per case."""
    from ctlabel.cli.common import out as _out
    from ctlabel.cli.common import team_service as _service
    from ctlabel.team.double_read import set_readers

    svc = _service(args)
    if args.readers is None:
        with svc.tx() as db:
            s = svc.settings(db)
            now = {"readers": s.readers or 1, "more_reads_below": s.more_reads_below, "fusion": s.fusion}
    else:
        now = set_readers(svc, args.readers, more_reads_below=args.more_reads_below, fusion=args.fusion)
    n, below = now["readers"], now["more_reads_below"]
    text = f"{n} reader(s) per case"
    if n >= 2:
        text += (f", fused by {now['fusion']}" + (f"; two reads first, the rest only when their lowest label Dice "
                                                  f"is below {below}" if below is not None and n > 2 else ""))
    return _out(args, now, text)


def _agreement_text(info: dict) -> str:
    lines = [f"{info['case']}: {info['state']}, {info['readers']} reader(s)"]
    lines += [f"  {r['slot']}: {r['reader']} {r['status']} {r['version'] or ''}".rstrip() for r in info["reads"]]
    fused = info.get("fusion")
    if fused:
        lines.append(f"  fused ({fused['method']}) as {fused['version']}, readers differ on "
                     f"{fused['disagreement_voxels']} voxels:")
        for r in fused["readers"]:
            md = "-" if r["mean_dice"] is None else f"{r['mean_dice']:.3f}"
            lines.append(f"  {r['reader']:<16} dice with the fusion {md}")
    ag = info.get("agreement")
    if ag:
        lines.append(f"  agreement {ag['a']} vs {ag['b']}:")
        for r in ag["labels"]:
            hd = "-" if r["hd95_mm"] is None else f"{r['hd95_mm']:.2f}"
            lines.append(f"  {r['label']:>5} {r['name'][:16]:<16} dice {r['dice']:.3f}  hd95 {hd} mm")
    return "\n".join(lines)


def cmd_reads(args) -> int:
    """Show the reads of a case and their agreement; with ``--dir``, download them."""
    from ctlabel.cli import common
    from ctlabel.cli.common import case_id as _case_id
    from ctlabel.cli.common import out as _out

    _client = common.team_client

    name = _case_id(args.case)
    with _client(args) as c:
        beat(c, name)  # the reviewer's time on the case
        info = c.reads(name)
        files = c.download_reads(name, args.dir) if args.dir else {}
    text = _agreement_text(info) + "".join(f"\n  {slot} -> {path}" for slot, path in files.items())
    return _out(args, {**info, "files": {k: str(v) for k, v in files.items()}}, text)


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``readers`` and ``reads`` to ``ctlabel team`` (``add(name, fn, help)`` of :mod:`ctlabel.cli.team`)."""
    p = add("readers", cmd_readers, "show or set the readers per case (N >= 2: reads fused for review)")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("readers", nargs="?", type=int, metavar="N", help="set annotators per case (default: show)")
    p.add_argument("--more-reads-below", type=float, metavar="DICE", help="adaptive reading: two reads first, the "
                   "rest of the N only when the two reads' lowest per-label Dice is below DICE")
    p.add_argument("--fusion", choices=("staple", "vote"), help="how the reads are fused (default: unchanged)")
    p = add("reads", cmd_reads, "reviewer: the reads of a case, their agreement and fused proposal")
    p.add_argument("case", metavar="CASE", help="the case's name, or its downloaded folder")
    p.add_argument("--dir", help="download both reads into DIR/CASE/masks (as their versions)")


__all__ = ["beat", "cmd_reads", "cmd_readers", "register"]
