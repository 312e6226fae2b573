"""The Review widget on a case taken with ``ctlabel team review-next``: the reviewer's heartbeats (issue 20).

GUI-free: the widget's hook (:func:`ctlabel_napari._review_team.follow`) with stand-ins for
napari's event emitters, against a real server; the heartbeats are the server's events and
count as the reviewer's active time in the report.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import select
from team_helpers import make_project

from ctlabel.team import admin
from ctlabel.team.db import Event, User
from ctlabel.team.report import report


class _Emitter:
    """What the hook uses of a napari ``EventEmitter``: connect, disconnect, and emitting."""

    def __init__(self) -> None:
        self.callbacks: list = []

    def connect(self, cb) -> None:
        self.callbacks.append(cb)

    def disconnect(self, cb) -> None:
        self.callbacks.remove(cb)

    def emit(self) -> None:
        for cb in list(self.callbacks):
            cb(None)


class _Events:
    def __init__(self, *names: str) -> None:
        for n in names:
            setattr(self, n, _Emitter())


class _Thing:
    def __init__(self, *names: str) -> None:
        self.events = _Events(*names)


def _reviewer_beats(svc) -> list:
    with svc.read() as db:
        return list(db.scalars(select(Event.at).join(User, User.id == Event.user_id)
                               .where(Event.kind == "heartbeat", User.name == "rev").order_by(Event.at)))


def test_the_review_widget_sends_the_reviewers_heartbeats(tmp_path, serve, philips_template):
    from ctlabel_napari._review_team import follow

    svc = make_project(tmp_path / "p", None, philips_template, n_cases=1)
    token = admin.add_user(svc, "rev", "reviewer")
    name = next(p.name for p in svc.cases_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    server = serve(svc.root)
    folder = tmp_path / "rev" / name
    folder.mkdir(parents=True)
    (folder / ".team.json").write_text(json.dumps({"Server": server.url, "Case": name}))
    viewer = _Thing()
    viewer.dims = _Thing("current_step")
    image, labels = _Thing("contrast_limits"), _Thing("paint")
    focus = [True]
    clock = [0.0]

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 20
        while len(_reviewer_beats(svc)) < n and time.monotonic() < deadline:
            time.sleep(0.05)

    # not a team case, or logged in to another server: nothing is watched
    assert follow(viewer, tmp_path, (image, labels), login=lambda: (server.url, token)) is None
    assert follow(viewer, folder, (image, labels), login=lambda: ("http://elsewhere:1", token)) is None
    beats = follow(viewer, folder, (image, labels), login=lambda: (server.url, token), has_focus=lambda: focus[0])
    assert beats is not None and beats.case == name
    beats.beats.clock = lambda: clock[0]
    viewer.dims.events.current_step.emit()  # a slice change: a heartbeat
    wait_for(1)
    assert len(_reviewer_beats(svc)) == 1
    clock[0] = 5.0
    labels.events.paint.emit()  # within 15 s: none
    focus[0] = False
    clock[0] = 20.0
    image.events.contrast_limits.emit()  # without focus: none
    focus[0] = True
    clock[0] = 40.0
    image.events.contrast_limits.emit()  # windowing: a heartbeat
    wait_for(2)
    assert len(_reviewer_beats(svc)) == 2
    # the next case (or the Worklist taking over) stops them
    again = follow(viewer, folder, (image, labels), beats, login=lambda: (server.url, token), has_focus=lambda: True)
    assert again is not None and beats._connected == []
    assert viewer.dims.events.current_step.callbacks == [again.activity]
    times = _reviewer_beats(svc)
    people = {p["user"]: p for p in report(svc)["people"]}
    assert people["rev"]["active_seconds"] == round((times[1] - times[0]).total_seconds(), 3)
