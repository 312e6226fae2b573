"""``ctlabel team ...``: run a team project (lead) and work on it (annotators, reviewers).

Exit codes: 0 done, 1 refused or failed (the server said no, or could not be reached),
2 bad usage. Every command takes ``--json`` (the result as JSON on stdout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ctlabel.cli import common
from ctlabel.cli.common import case_id as _case_id
from ctlabel.cli.common import out as _out
from ctlabel.cli.common import team_service as _service
from ctlabel.cli.hints import message
from ctlabel.cli.team_reads import beat as _beat
from ctlabel.errors import CtlabelError, InputError
from ctlabel.team.login import CONFIG_NAME, config_dir, load_login, save_login  # noqa: F401 - re-exported


def _client(args):
    return common.team_client(args)  # looked up at each call, so a test can stand in for the server


# --- lead, on the project folder --------------------------------------------------------------
def cmd_init(args) -> int:
    from ctlabel.team.admin import init_project

    svc = init_project(args.project, url=args.db, labels=args.labels, time_zone=args.time_zone,
                       idle_limit_s=args.idle_limit, open_limit=args.open_limit,
                       upload_limit=int(args.upload_limit_mib * 1024 * 1024), readers=args.readers,
                       more_reads_below=args.more_reads_below, fusion=args.fusion)
    return _out(args, {"project": str(svc.root), "database": svc.url.split("@")[-1]},
                f"team project {svc.root} ready (database {svc.url.split('@')[-1]})")


def cmd_user(args) -> int:
    from ctlabel.team import admin
    from ctlabel.team import project as layout

    if (Path(args.name) / layout.CONFIG).is_file() and not (Path(args.project) / layout.CONFIG).is_file():
        args.name, args.project = args.project, args.name  # PROJECT first, as in add-cases and readers
    svc = _service(args)
    if args.action == "add":
        if not args.role:
            raise InputError("user add needs --role annotator|reviewer|lead")
        token = admin.add_user(svc, args.name, args.role)
    elif args.action == "rotate":
        token = admin.rotate(svc, args.name)
    else:
        out = admin.revoke(svc, args.name)
        freed = ", ".join(f"{r['case']} ({r['lease']})" for r in out["released"])
        return _out(args, out, f"revoked the token of {args.name}" + (
            f"; released {len(out['released'])} case(s) they held, drafts kept, offered again: {freed}"
            if freed else "; they held no case"))
    return _out(args, {"user": args.name, "token": token},
                f"token for {args.name} (shown once, only its hash is stored):\n{token}")


def cmd_add_cases(args) -> int:
    from ctlabel.team import case_sources

    urls = [s for s in args.sources if case_sources.is_url(s)]
    picked = [o for o in ("study", "series", "uids", "study_date", "user", "token_env") if getattr(args, o)]
    if picked and not urls:
        raise InputError(f"--{picked[0].replace('_', '-')} is for a DICOMweb URL source")
    options = None
    if urls and len(args.sources) == 1:
        from ctlabel.cli.pull import pull_options
        from ctlabel.intake.convert import ConvertOptions

        options = pull_options(args, ConvertOptions())
    from ctlabel.dicomweb.client import ServerError

    try:
        res = case_sources.add_cases_from(_service(args), args.sources, pull_options=options,
                                          salt=args.pseudonymize_uids, jobs=args.jobs, priority=args.priority,
                                          progress=not args.json)
    except ServerError as exc:  # the PACS failed: nothing converted, nothing registered
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = "\n".join([f"added {n}" for n in res["added"]] + case_sources.notes(res) + [case_sources.summary(res)])
    _out(args, res, text)
    return 0 if res["ok"] else 1


def cmd_serve(args) -> int:
    from ctlabel.team.api import serve
    from ctlabel.team.sessions import SessionPolicy

    svc = _service(args)
    if not args.json:
        print(f"serving {svc.root} on http://{args.host}:{args.port} (Ctrl+C stops)", flush=True)
    serve(svc, args.host, args.port, volume_workers=args.volume_workers, docs=args.docs, trust_proxy=args.trust_proxy,
          sessions=SessionPolicy(round(args.session_hours * 3600), round(args.session_idle_minutes * 60)))
    return 0


def cmd_report(args) -> int:
    from ctlabel.team.report import duration_text, report, to_csv

    rep = report(_service(args), args.since, args.until)
    if args.csv:
        print(to_csv(rep), end="")
        return 0
    lines = [f"{'user':<16} {'role':<10} {'subm':>5} {'appr':>5} {'rej':>5} {'revs':>5} {'active':>12} owed"]
    for p in rep["people"]:
        lines.append(f"{p['user']:<16} {p['role']:<10} {p['submitted']:>5} {p['approved']:>5} {p['rejected']:>5} "
                     f"{p['reviews']:>5} {duration_text(p['active_seconds']):>12} {p['owed_cents'] / 100:.2f} "
                     f"{rep['currency']}")
    return _out(args, rep, "\n".join(lines))


def cmd_rates(args) -> int:
    from ctlabel.team import admin

    cents = {k: v for k, v in (("annotation", args.annotation), ("review", args.review), ("rework", args.rework),
                               ("gold", args.gold)) if v is not None}
    out = admin.set_rates(_service(args), cents, args.currency) if cents or args.currency else admin.rates(
        _service(args))
    return _out(args, out, ", ".join(f"{k} {v / 100:.2f}" for k, v in out.items()))


def cmd_guidelines(args) -> int:
    from ctlabel.team import admin

    svc = _service(args)
    if args.file:
        admin.set_guidelines(svc, Path(args.file).read_text(encoding="utf-8"))
        return _out(args, {"ok": True}, f"guidelines set from {args.file}")
    text = admin.guidelines(svc)
    return _out(args, {"guidelines": text}, text)


# --- everyone, through the server --------------------------------------------------------------
def cmd_login(args) -> int:
    from ctlabel.team.client import Client

    with Client(args.url, args.token) as c:
        me = c.me()
    path = save_login(args.url, args.token)
    return _out(args, {**me, "config": str(path)}, f"logged in to {args.url} as {me['user']} ({me['role']}); "
                f"token kept in {path} (mode 0600)")


def cmd_next(args) -> int:
    with _client(args) as c:
        info = c.next_case()
        root = c.download(info["case"], args.dir)
    why = {"rework": "rejected, fix it", "new": "new"}.get(info.get("reason"), info.get("reason", ""))
    extra = f"\nreviewer's comment: {info['comment']}" if info.get("comment") else ""
    kept = c.kept_drafts(root)
    extra += "".join(f"\nyour local draft had changes never uploaded: kept in {k}" for k in kept)
    return _out(args, {**info, "folder": str(root)}, f"{info['case']} ({why}) in {root}{extra}\n"
                f"edit: ctlabel view {root}   then: ctlabel team upload {root} && ctlabel team submit {root}")


def cmd_upload(args) -> int:
    with _client(args) as c:
        out = c.upload_draft(args.case_dir)
    return _out(args, out, f"uploaded the draft of {out['case']} ({out['size']} bytes)")


def cmd_submit(args) -> int:
    with _client(args) as c:
        out = c.submit(_case_id(args.case), force=args.force)
    return _out(args, out, f"submitted {out['case']} ({out['versions'][-1] if out['versions'] else ''})")


def cmd_simple(args) -> int:
    name = _case_id(args.case)
    with _client(args) as c:
        if args.verb in ("approve", "reject"):
            _beat(c, name)  # first: the time up to the decision counts
        if args.verb == "withdraw":
            out = c.withdraw(name)
        elif args.verb == "flag":
            out = c.flag(name, args.reason)
        elif args.verb == "heartbeat":
            out = c.heartbeat(name)
        elif args.verb == "approve":
            out = c.approve(name, args.comment, version=args.version)
        elif args.verb == "reopen":
            out = c.reopen(name, args.reason)
        else:
            marks = []
            for m in args.mark or []:
                parts = m.split(":", 2)
                if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
                    raise InputError(f"--mark is SLICE:LABEL[:NOTE], not {m!r}")
                marks.append({"slice": int(parts[0]), "label": int(parts[1]),
                              "note": parts[2] if len(parts) > 2 else ""})
            out = c.reject(name, args.comment, marks)
    return _out(args, out, f"{args.verb}: {name} is now {out.get('state', 'done')}")


def cmd_review_next(args) -> int:
    with _client(args) as c:
        info = c.review_next(accepted=getattr(args, "accepted", False))
        _beat(c, info["case"])
        root = c.download(info["case"], args.dir)
    return _out(args, {**info, "folder": str(root)}, f"review {info['case']} ({info['versions'][-1]}) in {root}\n"
                f"then: ctlabel team approve {info['case']} | reject {info['case']} --comment ... | "
                f"correct {root}")


def cmd_correct(args) -> int:
    with _client(args) as c:
        _beat(c, _case_id(args.case_dir))
        out = c.correct(args.case_dir, args.comment)
    return _out(args, out, f"correction of {out['case']} stored; it is {out['state']}")


def cmd_stats(args) -> int:
    from ctlabel.progress import duration_text

    with _client(args) as c:
        out = c.my_stats(args.since, args.until)
    me = out.get("me") or {}
    return _out(args, out, f"submitted {me.get('submitted', 0)}, approved {me.get('approved', 0)}, rejected "
                f"{me.get('rejected', 0)}, active {duration_text(me.get('active_seconds', 0))}, owed "
                f"{me.get('owed_cents', 0) / 100:.2f} {out.get('currency', '')}")


def _run(handler):
    def run(args) -> int:
        from ctlabel.team.client import ClientError
        from ctlabel.team.service import TeamError

        try:
            return handler(args)
        except (ClientError, TeamError) as exc:
            if getattr(args, "json", False):
                print(json.dumps({"ok": False, "status": getattr(exc, "status", 0), "error": str(exc)}))
            print(f"refused: {message(exc, args)}", file=sys.stderr)
            return 1
        except CtlabelError:
            raise
    return run


def register(sub) -> None:
    """Add ``ctlabel team ...`` to the ``ctlabel`` parser's subparsers."""
    team = sub.add_parser("team", help="team labeling server: projects, users, claims, review, time and pay")
    ts = team.add_subparsers(dest="team_command", required=True)

    def add(name: str, fn, hlp: str) -> argparse.ArgumentParser:
        p = ts.add_parser(name, help=hlp)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.set_defaults(func=_run(fn))
        return p

    p = add("init", cmd_init, "make a team project folder and its database")
    p.add_argument("project", metavar="PROJECT", help="the project folder to make")
    p.add_argument("--db", help="database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in PROJECT)")
    p.add_argument("--labels", help="labels.tsv for every case (default: the built-in table)")
    p.add_argument("--time-zone", default="UTC", help="time zone of the report's days (default UTC)")
    p.add_argument("--idle-limit", type=int, default=60, help="seconds between heartbeats still counted as active")
    p.add_argument("--open-limit", type=int, default=2, help="cases an annotator may hold at once (default 2)")
    p.add_argument("--upload-limit-mib", type=float, default=512, help="largest upload in MiB (default 512)")
    p.add_argument("--readers", type=int, default=1, metavar="N", help="annotators per case (N >= 2: each case is "
                   "read N times and the reads fused)")
    p.add_argument("--more-reads-below", type=float, metavar="DICE", help="adaptive reading: two reads per case, "
                   "the rest of the N only when the two reads' lowest per-label Dice is below DICE")
    p.add_argument("--fusion", choices=("staple", "vote"), default="staple", help="how the reads are fused")

    p = add("user", cmd_user, "add a user (prints the token once), rotate or revoke a token")
    p.add_argument("action", choices=("add", "rotate", "revoke"),
                   help="add a user, give them a new token (rotate), or revoke their token")
    p.add_argument("name", metavar="NAME", help="the user's name (their login); PROJECT NAME works too")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("--role", choices=("annotator", "reviewer", "lead"), help="the new user's role (needed by add)")

    p = add("add-cases", cmd_add_cases, "convert DICOM series (folders, or a DICOMweb server) into PROJECT/cases "
            "and register them")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("sources", nargs="+", metavar="DICOM|URL",
                   help="DICOM folders/files, or one DICOMweb root (http[s]://...) with --series/--study/--uids/"
                        "--study-date (as ctlabel pull; docs/pull.md)")
    from ctlabel.cli.pull import add_source_arguments

    add_source_arguments(p, keep_dicom_help="keep the DICOM pulled from a URL in PROJECT/cases/.pull/")
    p.add_argument("--pseudonymize-uids", metavar="SALT", help="replace UIDs by salted hashes")
    p.add_argument("-j", "--jobs", type=int, default=None, help="cores the conversion uses (default: all cores)")
    p.add_argument("--priority", type=int, default=0, help="higher is handed out first")

    p = add("serve", cmd_serve, "run the server (127.0.0.1 by default; put a TLS reverse proxy in front)")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    p.add_argument("--trust-proxy", metavar="ADDRESSES",
                   help="the TLS reverse proxy in front (e.g. 127.0.0.1; comma-separated): believe its "
                        "X-Forwarded-Proto and -For, so the dashboard's cookie is Secure (off by default)")
    p.add_argument("--session-hours", type=float, default=12, metavar="H",
                   help="a dashboard log-in ends H hours after it began (default 12)")
    p.add_argument("--session-idle-minutes", type=float, default=60, metavar="M",
                   help="... or when the dashboard was not used for M minutes (default 60)")
    p.add_argument("--volume-workers", type=int, default=2, metavar="N",
                   help="worker processes that check uploads and run a submit's QA, at a lower priority than "
                        "the requests that must stay quick (default 2; 0 runs them in the server's threads)")
    p.add_argument("--docs", action="store_true", help="serve the interactive API pages /docs and /redoc (they load "
                   "scripts from a CDN; off by default, /openapi.json is always served)")

    p = add("report", cmd_report, "per person: items, approvals, rejections, active time, amount owed")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("--csv", action="store_true", help="print the report as CSV")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="count from this day (in the project's time zone)")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="count up to this day (in the project's time zone)")

    p = add("rates", cmd_rates, "show or set what an item pays (in cents)")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    for k in ("annotation", "review", "rework"):
        p.add_argument(f"--{k}", type=int, metavar="CENTS", help=f"what one {k} item pays, in cents")
    p.add_argument("--gold", type=int, metavar="CENTS", help="what a scored gold case pays, in cents (never set: "
                   "the annotation rate)")
    p.add_argument("--currency", help="the currency of the rates, e.g. EUR")

    from ctlabel.team import demo  # ctlabel team demo: a local demo team on the sample data

    demo.register(add)
    from ctlabel.cli import team_pay, team_reads

    team_reads.register(add)  # readers, reads: double reading
    team_pay.register(add)  # pay close | list | show | mark-paid: pay periods
    from ctlabel.cli import team_gold

    team_gold.register(add)  # gold add | remove | list | rate | scores: gold-standard cases
    from ctlabel.cli import team_accuracy

    team_accuracy.register(add)  # accuracy PROJECT [--user] [--threshold]: annotators' measured accuracy
    from ctlabel.cli import team_policy

    team_policy.register(add)  # review-policy PROJECT [...]: review where it is needed

    p = add("guidelines", cmd_guidelines, "show the labeling guidelines, or set them from a Markdown file")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("file", nargs="?", metavar="FILE.md", help="set the guidelines from this Markdown file "
                   "(default: show them)")

    p = add("login", cmd_login, "keep the server and your token (config dir, mode 0600)")
    p.add_argument("url", metavar="URL", help="the team server, e.g. https://labels.example.org")
    p.add_argument("--token", required=True, help="your token (from the lead)")

    for name, hlp in (("next", "claim the next case and download it"),
                      ("review-next", "claim the next submitted case to review and download it")):
        p = add(name, cmd_next if name == "next" else cmd_review_next, hlp)
        p.add_argument("--dir", default=".", help="where case folders go (default: here)")
        if name == "review-next":
            p.add_argument("--accepted", action="store_true", help="pull a case the review policy accepted "
                           "without review instead (approve, reject or correct it as a submitted case)")

    p = add("upload", cmd_upload, "upload the draft of a downloaded case")
    p.add_argument("case_dir", metavar="CASE_DIR", help="the downloaded case folder")
    p = add("submit", cmd_submit, "submit a case for review (QA errors refuse it unless --force)")
    p.add_argument("case", metavar="CASE_DIR", help="the downloaded case folder (or the case's name)")
    p.add_argument("--force", action="store_true", help="submit although the server's QA finds errors (the "
                   "errors are recorded with the submission)")
    p = add("correct", cmd_correct, "reviewer: upload a correction of the submitted version")
    p.add_argument("case_dir", metavar="CASE_DIR", help="the downloaded case folder holding the correction")
    p.add_argument("--comment", help="what was corrected")
    p = add("stats", cmd_stats, "your own items, time and amount owed")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="count from this day")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="count up to this day")

    for verb, hlp in (("withdraw", "give a case back before submitting it"), ("flag", "mark a case unusable"),
                      ("heartbeat", "say you are working on a case"), ("approve", "approve a submitted case"),
                      ("reject", "reject a submitted case with a comment"),
                      ("reopen", "lead: reopen an approved case")):
        p = add(verb, cmd_simple, hlp)
        p.add_argument("case", metavar="CASE", help="the case's name, or its downloaded folder")
        p.set_defaults(verb=verb)
        if verb in ("flag", "reopen"):
            p.add_argument("--reason", required=True, help="why (recorded)")
        if verb == "approve":
            p.add_argument("--comment", help="an optional note")
            p.add_argument("--version", help="double reading: approve read A or B, or a version vNNN (a merge)")
        if verb == "reject":
            p.add_argument("--comment", required=True, help="what to fix")
            p.add_argument("--mark", action="append", metavar="SLICE:LABEL[:NOTE]",
                           help="a place to fix: slice, label and a note (repeat for more)")


__all__ = ["config_dir", "register", "save_login"]
