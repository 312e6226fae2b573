"""Security of the team server: tokens, roles, other people's cases, self-review, stale uploads, bad files, ids."""

from __future__ import annotations

import os

import httpx
import numpy as np
import pytest
from team_helpers import brain_mask_bytes, make_project

from ctlabel.team import admin
from ctlabel.team.project import case_folder


def _h(token: str | None, **extra) -> dict:
    return ({"Authorization": f"Bearer {token}"} if token else {}) | extra


def test_team_security(tmp_path, db_url, serve, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=3, upload_limit=1024 * 1024)
    tok = {n: admin.add_user(svc, n, r) for n, r in (("ann1", "annotator"), ("ann2", "annotator"),
                                                      ("rev", "reviewer"), ("rev2", "reviewer"), ("boss", "lead"))}
    server = serve(svc.root)
    api = httpx.Client(base_url=server.url + "/api/v1", timeout=60)

    # 401: no token, a wrong token, a revoked token
    assert api.post("/cases/next").status_code == 401
    assert api.post("/cases/next", headers=_h("ctl_" + "x" * 43)).status_code == 401
    assert api.get("/me", headers=_h("Basic abc")).status_code == 401
    admin.add_user(svc, "gone", "annotator")
    rotated = admin.rotate(svc, "gone")
    assert api.get("/me", headers=_h(rotated)).json()["user"] == "gone"
    admin.revoke(svc, "gone")
    assert api.get("/me", headers=_h(rotated)).status_code == 401
    # 403 per role
    assert api.post("/review/next", headers=_h(tok["ann1"])).status_code == 403
    assert api.post("/cases/next", headers=_h(tok["rev"])).status_code == 403
    assert api.get("/report", headers=_h(tok["rev"])).status_code == 403
    assert api.post("/users", headers=_h(tok["ann1"]), json={"name": "x", "role": "lead"}).status_code == 403
    assert api.put("/guidelines", headers=_h(tok["ann1"]), content=b"# mine").status_code == 403
    assert api.put("/guidelines", headers=_h(tok["boss"]), content=b"# Rules\nlabel the brain").status_code == 200
    assert "label the brain" in api.get("/guidelines", headers=_h(tok["ann2"])).text
    # the OpenAPI description is served
    assert "/api/v1/cases/{name}/draft" in httpx.get(server.url + "/openapi.json").json()["paths"]

    c1 = api.post("/cases/next", headers=_h(tok["ann1"])).json()["case"]
    c2 = api.post("/cases/next", headers=_h(tok["ann2"])).json()["case"]
    folder1 = svc.cases_dir / c1
    good = brain_mask_bytes(folder1)
    # another annotator's case: no download, upload, submit, heartbeat
    assert api.get(f"/cases/{c1}/files/ct.nii.gz", headers=_h(tok["ann2"])).status_code == 403
    r = api.put(f"/cases/{c1}/draft", headers=_h(tok["ann2"], **{"If-Match": "none"}), content=good)
    assert r.status_code == 403 and "not yours" in r.json()["detail"]
    assert api.post(f"/cases/{c1}/submit", headers=_h(tok["ann2"])).status_code == 403
    assert api.post(f"/cases/{c1}/heartbeat", headers=_h(tok["ann2"])).status_code == 403

    # uploads: checked before anything is stored
    def put(body, etag="none", token=tok["ann1"], case=c1):
        return api.put(f"/cases/{case}/draft", headers=_h(token, **{"If-Match": f'"{etag}"'}), content=body)

    r = put(brain_mask_bytes(folder1, shape=(100, 100, 28)))  # wrong grid
    assert r.status_code == 422 and "grid" in r.json()["detail"].lower() or "shape" in r.json()["detail"].lower()
    shifted = np.array(__import__("nibabel").load(folder1 / "ct.nii.gz").affine)
    shifted[0, 3] += 1.0
    r = put(brain_mask_bytes(folder1, affine=shifted))
    assert r.status_code == 422
    r = put(b"not a nifti at all" * 10)
    assert r.status_code == 422 and "NIfTI" in r.json()["detail"]
    r = put(brain_mask_bytes(folder1, label=200))  # not in the label table
    assert r.status_code == 422 and "200" in r.json()["detail"]
    r = put(os.urandom(2 * 1024 * 1024))  # over the 1 MiB limit of this project
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(3):
            yield os.urandom(512 * 1024)

    r = api.put(f"/cases/{c1}/draft", headers=_h(tok["ann1"], **{"If-Match": "none"}), content=chunks())
    assert r.status_code == 413
    assert not (folder1 / "masks" / "draft_dseg.nii.gz").exists()
    assert not any((svc.root / "tmp").iterdir())
    # If-Match: missing or stale is 409 and nothing is written
    assert put(good, etag="").status_code == 409
    r = put(good)
    assert r.status_code == 200
    first = r.json()["etag"]
    draft_before = (folder1 / "masks" / "draft_dseg.nii.gz").read_bytes()
    r = put(brain_mask_bytes(folder1, slices=(12,)), etag="none")  # started from before the first upload
    assert r.status_code == 409 and "nothing was stored" in r.json()["detail"]
    assert (folder1 / "masks" / "draft_dseg.nii.gz").read_bytes() == draft_before
    assert api.get(f"/cases/{c1}/files/draft", headers=_h(tok["ann1"])).headers["etag"] == f'"{first}"'
    assert put(brain_mask_bytes(folder1, slices=(11, 12)), etag=first).status_code == 200

    # ids never become paths
    for bad in ("..", "..%2F..%2Fetc", "%2Fetc%2Fpasswd", "a%2F..%2F..", "...."):
        r = api.get(f"/cases/{bad}/files/ct.json", headers=_h(tok["boss"]))
        assert r.status_code in (404, 422), (bad, r.status_code)
    for bad in ("..%2Fcase.json", "case.json", "masks%2Fv001_dseg.nii.gz", "%2Fetc%2Fpasswd"):
        r = api.get(f"/cases/{c1}/files/{bad}", headers=_h(tok["boss"]))
        assert r.status_code == 404, (bad, r.status_code)
    with pytest.raises(Exception, match="leaves the project"):
        case_folder(svc.root, "../../etc")
    with pytest.raises(Exception, match="leaves the project"):
        case_folder(svc.root, "/etc")
    (svc.cases_dir / "linked").symlink_to(folder1)
    with pytest.raises(Exception, match="symlink"):
        case_folder(svc.root, "linked")

    # self-review: a lead who annotated cannot approve it; a reviewer may approve their own correction
    boss_case = api.post("/cases/next", headers=_h(tok["boss"])).json()["case"]
    bfolder = svc.cases_dir / boss_case
    assert put(brain_mask_bytes(bfolder), token=tok["boss"], case=boss_case).status_code == 200
    assert api.post(f"/cases/{boss_case}/submit", headers=_h(tok["boss"])).status_code == 200
    r = api.post(f"/cases/{boss_case}/approve", headers=_h(tok["boss"]), json={})
    assert r.status_code == 403 and "self-review" in r.json()["detail"]
    assert api.post(f"/cases/{c1}/submit", headers=_h(tok["ann1"])).status_code == 200
    # a case under review by rev is not rev2's to decide
    got = api.post("/review/next", headers=_h(tok["rev"])).json()["case"]
    r = api.post(f"/cases/{got}/approve", headers=_h(tok["rev2"]), json={})
    assert r.status_code == 403
    etag = api.get(f"/cases/{c1}", headers=_h(tok["rev"])).json()["etag"]
    r = api.put(f"/cases/{c1}/correction", headers=_h(tok["rev"], **{"If-Match": etag}),
                content=brain_mask_bytes(folder1, slices=(10, 11, 12, 13)), params={"comment": "extended"})
    assert r.status_code == 200, r.text
    assert api.post(f"/cases/{c1}/approve", headers=_h(tok["rev"]), json={}).json()["state"] == "approved"
    # an annotator cannot submit a case they no longer hold, nor approve
    assert api.post(f"/cases/{c2}/approve", headers=_h(tok["ann2"]), json={}).status_code == 403
    # the lead reopens an approved case with a reason; it is in progress again
    assert api.post(f"/cases/{c1}/reopen", headers=_h(tok["rev"]), json={"reason": "x"}).status_code == 403
    r = api.post(f"/cases/{c1}/reopen", headers=_h(tok["boss"]), json={"reason": "new protocol"})
    assert r.status_code == 200 and r.json()["state"] == "in_progress"
    # flag and withdraw
    assert api.post(f"/cases/{c2}/flag", headers=_h(tok["ann2"]), json={"reason": "motion artefacts"}).json()[
        "flagged"] == "motion artefacts"
    assert api.post(f"/cases/{c2}/withdraw", headers=_h(tok["ann2"])).status_code == 403  # not theirs any more
