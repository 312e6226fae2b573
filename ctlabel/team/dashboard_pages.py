"""The bodies of the lead's pages (summary, alerts, case table, case page), from the console's data.

Every figure comes from :mod:`ctlabel.team.console_data`, :mod:`ctlabel.team.console_alerts`,
:mod:`ctlabel.team.dashboard_data` and :mod:`ctlabel.team.case_story`; this module only lays
them out (escaped HTML).
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from sqlalchemy import select

from ctlabel.team import case_labels, console_alerts, console_data
from ctlabel.team import console_views as cv
from ctlabel.team import dashboard_data as data
from ctlabel.team import dashboard_views as views
from ctlabel.team.case_story import record_rows, server_rows, when_text
from ctlabel.team.dashboard_pay import pay_section
from ctlabel.team.db import CaseRow, User, utcnow
from ctlabel.team.errors import as_utc
from ctlabel.team.service import Service

#: The alerts shown on the summary (the rest on ``/alerts``).
SUMMARY_ALERTS = 8


def _labels(svc: Service, items: list[console_alerts.Alert]) -> dict[str, str]:
    """The labels of the alerts' cases (:mod:`ctlabel.team.case_labels`, cached)."""
    wanted = {a.case for a in items}
    if not wanted:
        return {}
    with svc.read() as db:
        paths = dict(db.execute(select(CaseRow.name, CaseRow.path).where(CaseRow.name.in_(wanted))).all())
    return case_labels.labels(svc.root, paths)


def summary_body(svc: Service) -> str:
    """The summary page: how far, alerts, review queue, throughput, who works now, double reading.

    The pay figures and the pay section (each a pass over every event: ~1 s with 10,000 cases) are on the
    people page (:func:`people_body`), so that the summary stays under 0.5 s.
    """
    now = utcnow()
    prog = console_data.progress(svc, now)
    fc = console_data.forecast(svc, prog, now)
    queue = console_data.review_queue(svc, now)
    items = console_alerts.alerts(svc, now)
    days, series = console_data.throughput(svc)
    people = console_data.people_now(svc, now)
    with svc.read() as db:
        project = svc.settings(db)
        name, tz = project.name, project.time_zone
    plot = views.bar_chart(days, series, {"submitted": "#7aa6d8", "rejected": "#e39b3b", "approved": "#2e7d4f"})
    return (f'<h1>{escape(name)}</h1>{cv.progress_section(prog, fc)}'
            f'<section id="alerts"><h2>Needs attention</h2>'
            f'{cv.alerts_table(items, now, SUMMARY_ALERTS, _labels(svc, items[:SUMMARY_ALERTS]))}</section>'
            f'<div class="grid"><section><h2>Review queue</h2>{cv.queue_section(queue, now)}</section>'
            f'<section><h2>Team now</h2>{cv.team_now(people, now)}</section></div>'
            f'<section><h2>Throughput per day (last {len(days)} days, {escape(tz)})</h2>{plot}</section>'
            f'<section><h2>Double-read agreement</h2>{views.agreement_section(data.agreement(svc))}</section>')


def people_body(svc: Service) -> str:
    """Every annotator and reviewer: what they hold now, their last activity, the report's figures and pay."""
    now = utcnow()
    rep = data.figures(svc)
    annotators, reviewers = data.people(rep)
    people = console_data.people_now(svc, now)
    cur = escape(rep["currency"])
    return (f'<h1>People</h1><section><h2>Annotators</h2>'
            f'{cv.people_table(people, figures_all(annotators), now, cur)}</section>'
            f'<section><h2>Reviewers</h2>{cv.reviewers_table(people, figures_all(reviewers), now, cur)}</section>'
            f'{pay_section(svc)}<p class="muted">Pay as of now, all days; per period: <code>ctlabel team report '
            f'PROJECT --since D --until D</code> or <a href="/report.csv">the CSV</a> '
            '(<code>?since=YYYY-MM-DD&amp;until=...</code>).</p>')


def figures_all(rows: list[dict]) -> dict[str, dict]:
    """Report rows by user name."""
    return {r["user"]: r for r in rows}


def alerts_body(svc: Service, stall_hours: float) -> str:
    """Every alert (``stall_hours``: when a case counts as stalled)."""
    now = utcnow()
    items = console_alerts.alerts(svc, now, stall_hours)
    form = ('<form method="get" action="/alerts" class="inline" id="stall">'
            f'<label>stalled after <input name="stall_hours" value="{stall_hours:g}" size="4"> hours</label>'
            '<button>Show</button></form>')
    return (f'<h1>Needs attention ({len(items)})</h1><section>{form}'
            f'{cv.alerts_table(items, now, labels=_labels(svc, items))}</section>')


def cases_body(svc: Service, state: str, stage: str, annotator: str, q: str, page_no: int) -> str:
    """The case table: thumbnail, id and label, stage, who; filtered and searched by id or label."""
    res = data.case_page(svc, state or None, annotator or None, q or None, page_no, stage=stage or None)
    with svc.read() as db:
        names = sorted(u.name for u in db.scalars(select(User).where(User.role.in_(("annotator", "lead")))))
    form = ('<form method="get" action="/cases" id="filter" class="inline">'
            f'<label>case <input name="q" id="search" type="search" value="{escape(q)}" size="28" '
            'placeholder="id or label (e.g. BRAIN)"></label>'
            f'<label>stage <select name="stage">{views.options(console_data.STAGES, stage)}</select></label>'
            f'<label>annotator <select name="annotator">{views.options(names, annotator)}</select></label>'
            + (f'<input type="hidden" name="state" value="{escape(state)}">' if state else "")
            + '<button>Filter</button></form>')
    rows = [[f'<a href="/cases/{quote(r["case"])}"><img class="thumb" loading="lazy" alt="" '
             f'src="/cases/{quote(r["case"])}/thumb.png"></a>', cv.case_link(r["case"], r["label"]),
             cv.stage_name(r["stage"]), r["priority"], escape(r["annotator"] or ""), escape(r["reviewer"] or ""),
             f'<span class="nw">{escape(when_text(as_utc(r["updated"]))[:16])}</span>'] for r in res["rows"]]
    tab = views.table(["", "case", "stage", "priority", "annotator", "reviewer", "updated (UTC)"], rows,
                      numeric=(3,), raw=(0, 1, 4, 5, 6), cls="cases")
    params = {"state": state, "stage": stage, "annotator": annotator, "q": q}
    return (f'<h1>Cases</h1><section>{form}<p id="total">{res["total"]} case(s)</p>{tab}'
            f'{views.pager("/cases", params, res["page"], res["pages"])}</section>')


def case_body(svc: Service, csrf: str, name: str, msg: str, err: str) -> str:
    """A case's page: thumbnail and label, who holds it, the actions, its history as readable rows."""
    h = data.case_history(svc, name)
    url = f"/cases/{quote(name)}"
    note = (f'<p class="msg" id="msg">{escape(msg)}</p>' if msg else "") + (
        f'<p class="err" id="err">{escape(err)}</p>' if err else "")
    with svc.read() as db:
        path = svc.get_case(db, name).path
        users = dict(db.execute(select(User.id, User.name)).all())
    label = case_labels.labels(svc.root, {name: path})[name]
    facts = views.table(["state", "flagged", "priority", "annotator", "lease until (UTC)", "reviewer",
                         "review lease (UTC)"],
                        [[h["state"], h["flagged"] or "", h["priority"], h["annotator"] or "",
                          when_text(as_utc(h["lease_until"])), h["reviewer"] or "",
                          when_text(as_utc(h["review_lease_until"]))]], cls="facts")
    acts = []
    open_states = ("in_progress", "rejected")
    if h["state"] in open_states and not h["flagged"]:
        acts.append(views.post_form(url + "/reassign", csrf, "Reassign",
                                    f'<select name="to">{views.options(h["annotators"], None, "")}</select>',
                                    "reassign"))
    if (h["annotator"] and h["state"] in open_states) or (h["reviewer"] and h["state"] == "submitted"):
        acts.append(views.post_form(url + "/release", csrf, "Release the lease", form_id="release"))
    if h["state"] == "approved":
        acts.append(views.post_form(url + "/reopen", csrf, "Reopen",
                                    '<input name="reason" placeholder="reason" required size="40">', "reopen"))
    beats = views.table(["who", "heartbeats", "first (UTC)", "last (UTC)"],
                        [[b["who"] or "", b["n"], when_text(as_utc(b["first"])), when_text(as_utc(b["last"]))]
                         for b in h["heartbeats"]], numeric=(1,), cls="heartbeats") if h["heartbeats"] else ""
    head = (f'<div class="case-head"><img class="big" alt="middle slice" src="{url}/thumb.png">'
            f'<div><p id="case-label"><b>{escape(label)}</b></p>{facts}'
            f'<p>{" ".join(acts) or "no action applies"}</p></div></div>')
    return (f'<h1>Case {escape(name)}</h1>{note}<section>{head}</section>'
            f'<section id="server-events"><h2>History (server)</h2>'
            f'{cv.story_table(server_rows(h["events"], users), "events")}{beats}</section>'
            f'<section><h2>case.json events (the case record)</h2>{cv.story_table(record_rows(h["record"]), "record")}'
            '</section>')


__all__ = ["SUMMARY_ALERTS", "alerts_body", "case_body", "cases_body", "people_body", "summary_body"]
