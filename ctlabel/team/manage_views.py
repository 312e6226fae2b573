"""HTML of the console's *Manage* page: rates, guidelines, adding cases, exports, and a job's progress.

Escaped HTML only (every value from the project, a form or a job goes through :func:`html.escape`),
no script: a running job's page reloads itself every :data:`REFRESH_S` seconds (``<meta
http-equiv="refresh">``, which the server's content policy allows).
"""

from __future__ import annotations

import datetime as dt
from html import escape
from urllib.parse import quote

from ctlabel.export.run import FORMATS
from ctlabel.team.dashboard_views import csrf_field, table
from ctlabel.team.jobs import Job

#: Seconds between reloads of a running job's page.
REFRESH_S = 1


def _form(action: str, csrf: str, form_id: str, inner: str, button: str) -> str:
    return (f'<form method="post" action="{escape(action)}" id="{escape(form_id)}">{csrf_field(csrf)}{inner}'
            f'<p><button id="{escape(form_id)}-go">{escape(button)}</button></p></form>')


def rates_section(csrf: str, rates: dict[str, int], currency: str) -> str:
    """What an item pays (cents), as ``ctlabel team rates`` sets it."""
    fields = "".join(f'<label>{escape(k)} <input type="number" min="0" max="100000000" name="{escape(k)}" '
                     f'id="rate-{escape(k)}" value="{int(v)}" size="8"></label> ' for k, v in sorted(rates.items()))
    fields += (f'<label>currency <input name="currency" id="currency" value="{escape(currency)}" maxlength="8" '
               'size="5"></label>')
    return ('<section id="rates"><h2>Rates</h2><p class="muted">What one item pays, in cents of the currency '
            f'(<code>ctlabel team rates</code>).</p>{_form("/manage/rates", csrf, "rates-form", fields, "Set rates")}'
            '</section>')


def guidelines_section(csrf: str, text: str) -> str:
    """The guidelines as they stand (escaped, as typed) and the form replacing them."""
    area = (f'<textarea name="text" id="guidelines-text" rows="10" cols="100" maxlength="1048576">{escape(text)}'
            '</textarea>')
    return ('<section id="guidelines"><h2>Guidelines</h2><p class="muted">Markdown, at most 1 MiB; annotators fetch '
            'them with the client (<code>ctlabel team guidelines</code>). Shown here as typed.</p>'
            f'<pre id="guidelines-now" style="white-space:pre-wrap;max-height:12rem;overflow:auto">{escape(text)}'
            f'</pre>{_form("/manage/guidelines", csrf, "guidelines-form", area, "Save guidelines")}</section>')


def add_cases_section(csrf: str, cores: int) -> str:
    """The form adding cases from a folder on the server or a DICOMweb URL (``ctlabel team add-cases``)."""
    inner = ('<p><label>DICOM folder on the server, or a DICOMweb URL <input name="source" id="source" size="70" '
             'maxlength="4096" required placeholder="/data/incoming/study1  or  https://pacs.example.org/dicom-web">'
             '</label></p><p class="muted">For a URL, say what to pull (UIDs separated by spaces or commas):</p><p>'
             '<label>series <input name="series" size="40"></label> <label>studies <input name="study" size="40">'
             '</label></p><p><label>study dates <input name="study_date" placeholder="YYYYMMDD-YYYYMMDD" size="18">'
             '</label> <label>modality <input name="modality" value="CT" size="4"></label></p>'
             '<p><label>pseudonymize UIDs with salt <input name="salt" size="20" maxlength="256"></label> '
             '<label>priority <input type="number" name="priority" value="0" min="-1000000" max="1000000" size="6">'
             f'</label> <label>cores <input type="number" name="jobs" value="1" min="1" max="{cores}" size="3">'
             '</label></p>')
    return ('<section id="add-cases"><h2>Add cases</h2><p class="muted">Converts every CT series found and '
            'registers the new cases (as <code>ctlabel team add-cases</code>); it runs in the background.</p>'
            f'{_form("/manage/add-cases", csrf, "add-cases-form", inner, "Add cases")}</section>')


def export_section(csrf: str, default_name: str, archives: list[tuple[str, int, dt.datetime]]) -> str:
    """The form starting an export (``ctlabel export-dataset``'s options) and the archives to download."""
    fmts = "".join(f'<option value="{f}">{f}</option>' for f in FORMATS)

    def box(name: str, text: str) -> str:
        return f'<label><input type="checkbox" name="{name}" value="on"> {escape(text)}</label> '

    inner = (f'<p><label>format <select name="format" id="export-format">{fmts}</select></label> '
             f'<label>name <input name="name" id="export-name" value="{escape(default_name)}" maxlength="100" '
             'size="30"></label></p><p>' + box("include_unapproved", "include unapproved cases")
             + box("update", "update this export") + box("resample_tilted", "resample tilted cases")
             + box("consecutive", "labels 1..n")
             + '</p><p><label>nnU-Net folds <input type="number" name="split" min="2" max="100" size="3"></label> '
             '<label>MONAI validation fraction <input name="validation_fraction" size="5" placeholder="0.2">'
             '</label></p>')
    rows = [[f'<a href="/manage/exports/{quote(n)}.zip" class="download">{escape(n)}.zip</a>',
             f"{size / 1e6:.1f} MB", f"{when:%Y-%m-%d %H:%M} UTC"] for n, size, when in archives]
    listed = table(["archive", "size", "written"], rows, raw=(0,), cls="archives") if rows else (
        '<p class="muted">No export yet.</p>')
    return ('<section id="export"><h2>Export a dataset</h2><p class="muted">The approved version of each case, '
            'into <code>PROJECT/exports/NAME</code> with its manifest, then zipped for download (as '
            '<code>ctlabel export-dataset PROJECT/cases OUT</code>).</p>'
            f'{_form("/manage/export", csrf, "export-form", inner, "Export")}{listed}</section>')


def jobs_section(jobs: list[Job]) -> str:
    """The jobs this server ran since it started, newest first."""
    if not jobs:
        return '<section id="jobs"><h2>Jobs</h2><p class="muted">None since the server started.</p></section>'
    rows = [[f'<a href="/manage/jobs/{j.id}">{j.id}</a>', escape(j.kind), escape(j.title), escape(j.by),
             f'<span class="tag tag-{escape(j.state)}">{escape(j.state)}</span>', escape(_count(j))] for j in jobs]
    return ('<section id="jobs"><h2>Jobs</h2>' + table(["job", "kind", "what", "by", "state", "progress"], rows,
                                                      raw=(0, 1, 2, 3, 4, 5), cls="jobs") + "</section>")


def _count(job: Job) -> str:
    return f"{job.done} of {job.total} {job.stage}" if job.total else ("starting" if job.running else "")


def job_page(job: Job) -> tuple[str, str]:
    """The head (a reload while running) and body of a job's page."""
    head = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if job.running else ""
    pct = int(100 * job.done / job.total) if job.total else 0
    facts = table(["", ""], [["kind", job.kind], ["what", job.title], ["started by", job.by],
                             ["started", f"{job.started:%Y-%m-%d %H:%M:%S} UTC"],
                             ["finished", f"{job.finished:%Y-%m-%d %H:%M:%S} UTC" if job.finished else "–"]],
                  cls="facts")
    parts = [f'<h1>Job {job.id}: {escape(job.kind)}</h1><section><p>State: <b id="job-state" '
             f'class="tag tag-{escape(job.state)}">{escape(job.state)}</b></p>',
             f'<p><progress id="job-progress" max="100" value="{pct}"></progress> <span id="job-count">'
             f'{escape(_count(job))}</span></p>',
             f'<p class="muted">Last: <span id="job-current">{escape(job.current) or "–"}</span></p>{facts}']
    if job.error:
        parts.append(f'<p class="err" id="job-error">{escape(job.error)}</p>')
    result = job.result
    if result.get("summary"):
        parts.append(f'<p class="msg" id="job-summary">{escape(result["summary"])}</p>')
    if result.get("archive"):
        name = result["name"]
        parts.append(f'<p><a id="download" href="/manage/exports/{quote(name)}.zip">Download {escape(name)}.zip</a> '
                     f'({result.get("archive_mb", 0):.1f} MB)</p>')
    problems = result.get("notes") or job.errors
    if problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problems[:200])
        more = f"<li>… and {len(problems) - 200} more</li>" if len(problems) > 200 else ""
        parts.append(f'<h2>Problems</h2><ul id="job-errors">{items}{more}</ul>')
    if result.get("added"):
        parts.append('<h2>Cases added</h2><p id="job-added">' + ", ".join(
            f'<a href="/cases/{quote(n)}">{escape(n)}</a>' for n in result["added"][:500]) + "</p>")
    parts.append('</section><p><a href="/manage">Back to Manage</a></p>')
    return head, "".join(parts)


__all__ = ["REFRESH_S", "add_cases_section", "export_section", "guidelines_section", "job_page", "jobs_section",
           "rates_section"]
