"""What the server logs of a submit forced past QA errors (the console's ``forced`` alerts).

The core records a forced submit in ``case.json`` (``Forced``, ``QAErrors`` of the ``submitted``
or ``read`` event, :func:`ctlabel.case.qa_gate.qa_gate`); the server copies it into its
``submit`` event so that the lead's console finds such cases with one query.
"""

from __future__ import annotations

from ctlabel.model import Action, CaseRecord


def _finding(f: object) -> str:
    if not isinstance(f, dict):
        return str(f)[:300]
    where = ", ".join(f"{k} {f[k]}" for k in ("label", "slice") if f.get(k) is not None)
    return (f"{f.get('message') or f.get('check') or '?'}" + (f" ({where})" if where else ""))[:300]


def submit_note(record: CaseRecord, action: Action = Action.SUBMITTED) -> dict:
    """The server event detail of a forced submit, from the case's ``case.json``.

    Parameters
    ----------
    record : CaseRecord
        ``case.json`` after the submit.
    action : Action
        The core action of the submit: ``submitted``, or ``read`` (a read of a case read by N readers).

    Returns
    -------
    dict
        ``{"forced": True, "qa_errors": [...]}`` (at most 20 findings as text) for a forced submit, else ``{}``.
    """
    ev = record.last(action)
    if ev is None or not ev.forced:
        return {}
    return {"forced": True, "qa_errors": [_finding(f) for f in ev.qa_errors][:20]}


__all__ = ["submit_note"]
