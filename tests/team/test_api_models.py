"""Every answer of the team API has a response model (issue 22, item 5), and the models cover the answers.

* ``/openapi.json`` documents a non-empty 200 answer for every route under ``/api/v1`` (before, every
  JSON route's schema was ``{}``).
* A day of a project (claims, uploads, a rejection with marks, a correction, approvals, a reopening,
  a withdrawal of each kind, a flag, a double read, the report, a pay period, users) runs through
  the API in-process; every JSON answer is validated against its route's model, and a key a model
  does not declare (one the models would let through undocumented) fails the test. Every JSON
  route must have been answered at least once, so a new route or a new key of a service cannot
  go undocumented.
* Keys the service leaves out stay out (``response_model_exclude_unset``): a case that was not
  rejected has no ``marks``, as before the models.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, RootModel
from starlette.routing import Match
from team_helpers import brain_mask_bytes, make_project

from ctlabel.team import admin, api_accuracy, api_cases, api_lead, api_reads
from ctlabel.team.api import PREFIX, create_app
from ctlabel.team.double_read import set_readers


def _h(token: str, **extra: str) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_openapi_documents_every_answer():
    from unittest.mock import MagicMock

    spec = create_app(MagicMock()).openapi()
    routes = [(path, method, op) for path, ops in spec["paths"].items() if path.startswith(PREFIX)
              for method, op in ops.items()]
    assert len(routes) >= 30
    json_routes = 0
    for path, method, op in routes:
        ok = op["responses"].get("200")
        assert ok and ok.get("content"), f"{method.upper()} {path} documents no 200 answer"
        for media, body in ok["content"].items():
            schema = _resolve(spec, body.get("schema") or {})
            assert schema, f"{method.upper()} {path} documents an empty {media} answer"
            if media == "application/json":
                json_routes += 1
                assert schema.get("properties") or schema.get("additionalProperties") or schema.get("anyOf"), \
                    f"{method.upper()} {path}: {schema}"
    assert json_routes >= 28


def _undeclared(value: object, where: str = "") -> list[str]:
    """The keys of a validated answer no model declares (``extra="allow"`` let them through)."""
    if isinstance(value, RootModel):
        return _undeclared(value.root, where)
    if isinstance(value, BaseModel):
        out = [f"{where}.{k}" for k in (value.__pydantic_extra__ or {})]
        for name in type(value).model_fields:
            out += _undeclared(getattr(value, name), f"{where}.{name}")
        return out
    if isinstance(value, list):
        return [u for i, v in enumerate(value) for u in _undeclared(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [u for k, v in value.items() for u in _undeclared(v, f"{where}.{k}")]
    return []


class _Recorder:
    """Checks each JSON answer against the model of the route that gave it; remembers the routes answered."""

    def __init__(self) -> None:
        self.routes = [r for m in (api_cases, api_lead, api_reads, api_accuracy) for r in m.router.routes
                       if isinstance(r, APIRoute)]
        self.answered: set[str] = set()
        self.problems: list[str] = []

    def __call__(self, response: httpx.Response) -> None:
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith("application/json"):
            return
        path = response.request.url.path.removeprefix(PREFIX)
        scope = {"type": "http", "path": path, "root_path": "", "method": response.request.method}
        route = next(r for r in self.routes if r.matches(scope)[0] == Match.FULL)
        key = f"{response.request.method.lower()} {PREFIX}{route.path}"
        self.answered.add(key)
        model = route.response_model
        if model is None:
            self.problems.append(f"{key}: no response model")
            return
        extra = _undeclared(model.model_validate(response.json()))
        if extra:
            self.problems.append(f"{key}: undeclared {extra}")


def test_every_answer_fits_its_model(tmp_path, db_url, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=4, open_limit=3)
    tok = {n: admin.add_user(svc, n, r) for n, r in (("ann", "annotator"), ("ann2", "annotator"),
                                                      ("rev", "reviewer"), ("boss", "lead"))}
    app = create_app(svc)
    rec = _Recorder()
    api = TestClient(app, base_url=f"http://testserver{PREFIX}")

    def call(method: str, path: str, who: str | None, **kw) -> dict:
        r = api.request(method, path, headers=_h(tok[who], **kw.pop("headers", {})) if who else {}, **kw)
        assert r.status_code == 200, f"{method} {path}: {r.text}"
        rec(r)
        return r.json()

    def upload(who: str, name: str, etag: str, kind: str = "draft", slices=(10, 11, 12, 13, 14), **kw) -> dict:
        return call("PUT", f"/cases/{name}/{kind}", who, headers={"If-Match": f'"{etag}"'},
                    content=brain_mask_bytes(svc.cases_dir / name, slices=slices), **kw)

    assert call("GET", "/health", None) == {"ok": True}
    assert call("GET", "/me", "ann") == {"user": "ann", "role": "annotator"}
    call("PUT", "/guidelines", "boss", content=b"# Rules\n")
    assert call("PUT", "/rates", "boss", json={"annotation": 500, "review": 100, "rework": 50})["review"] == 100
    call("GET", "/rates", "boss")
    tok["ann3"] = call("POST", "/users", "boss", json={"name": "ann3", "role": "annotator"})["token"]
    tok["ann3"] = call("POST", "/users/ann3/rotate", "boss")["token"]

    # one case through claim, upload, submit, withdrawal, rejection with marks, rework, correction, approval
    case = call("POST", "/cases/next", "ann")
    name = case["case"]
    assert case["reason"] == "new" and "marks" not in case and "read" not in case  # left out, not null
    call("GET", f"/cases/{name}", "ann")
    call("POST", f"/cases/{name}/heartbeat", "ann")
    up = upload("ann", name, case["etag"])
    assert up["etag"] == api.get(f"/cases/{name}/files/draft", headers=_h(tok["ann"])).headers["etag"].strip('"')
    call("POST", f"/cases/{name}/submit", "ann", json={})
    assert call("POST", f"/cases/{name}/withdraw", "ann")["withdrawn"] is True
    call("POST", f"/cases/{name}/submit", "ann", json={})
    assert call("POST", "/review/next", "rev")["case"] == name
    rejected = call("POST", f"/cases/{name}/reject", "rev",
                    json={"comment": "more", "marks": [{"slice": 12, "label": 1, "note": "edge"}]})
    assert rejected["marks"] == [{"slice": 12, "label": 1, "note": "edge"}] and rejected["rejected_by"] == "rev"
    again = call("POST", "/cases/next", "ann")
    assert again["reason"] == "rework"
    upload("ann", name, again["etag"], slices=(10, 11, 12))
    call("POST", f"/cases/{name}/submit", "ann", json={"force": False})
    held = call("POST", "/review/next", "rev")
    upload("rev", name, held["etag"], kind="correction", slices=(11, 12), params={"comment": "fixed"})
    call("POST", f"/cases/{name}/approve", "rev", json={"comment": "good"})
    call("POST", f"/cases/{name}/reopen", "boss", json={"reason": "one more label"})
    assert {c["case"] for c in call("GET", "/me/cases", "ann")["cases"]} == {name}

    # a case given back, another flagged
    other = call("POST", "/cases/next", "ann2")["case"]
    assert call("POST", f"/cases/{other}/withdraw", "ann2") == {"case": other, "withdrawn": True}
    assert call("POST", "/cases/next", "ann2")["case"] == other
    assert call("POST", f"/cases/{other}/flag", "ann2", json={"reason": "motion"})["flagged"] == "motion"

    # a double read: both reads in, their agreement, read 1 approved
    set_readers(svc, 2)
    a, b = call("POST", "/cases/next", "ann"), call("POST", "/cases/next", "ann2")
    assert (a["case"], a["read"], b["read"]) == (b["case"], 1, 2)
    double = a["case"]
    upload("ann", double, a["etag"])
    upload("ann2", double, b["etag"], slices=(11, 12, 13, 14, 15))
    call("POST", f"/cases/{double}/submit", "ann", json={})
    call("POST", f"/cases/{double}/submit", "ann2", json={})
    assert call("GET", f"/cases/{double}/reads", "rev")["agreement"]["labels"][0]["label"] == 1
    call("GET", f"/cases/{double}/agreement", "rev")
    call("POST", f"/cases/{double}/reads/approve", "rev", json={"version": "1"})
    call("POST", "/cases/next", "ann3")  # a read ann3 holds when revoked

    # the report, a pay period closed and paid, a user revoked
    assert call("GET", "/me/stats", "ann")["me"]["user"] == "ann"
    call("GET", "/me/accuracy", "ann")
    tz = call("GET", "/report", "boss")["time_zone"]
    call("GET", "/pay", "boss")
    yesterday = dt.datetime.now(ZoneInfo(tz)).date() - dt.timedelta(days=1)
    number = call("POST", "/pay/close", "boss", json={"until": yesterday.isoformat()})["number"]
    call("POST", f"/pay/{number}/paid", "boss")
    period = call("GET", f"/pay/{number}", "boss")
    assert period["period"]["status"] == "paid"
    assert call("POST", "/users/ann3/revoke", "boss")["released"][0]["lease"] == "read"

    assert not rec.problems, "\n".join(rec.problems)
    spec = app.openapi()
    json_routes = {f"{method} {path}" for path, ops in spec["paths"].items() if path.startswith(PREFIX)
                   for method, op in ops.items() if "application/json" in op["responses"]["200"]["content"]}
    assert len(json_routes) >= 28 and json_routes - rec.answered == set(), "routes the day did not answer"


@pytest.mark.parametrize("answer", [{"case": "c1", "withdrawn": True}])
def test_withdrawal_keeps_a_short_answer_short(answer):
    from ctlabel.team.api_models import Withdrawal

    assert Withdrawal.model_validate(answer).model_dump(exclude_unset=True) == answer
