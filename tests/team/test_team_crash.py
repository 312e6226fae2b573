"""Crash: kill -9 the server during uploads, restart: every acknowledged upload is there and intact."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from team_helpers import brain_mask_bytes, make_project, read_json

from ctlabel.case.folder import Case
from ctlabel.case.verify import verify_case
from ctlabel.io.nifti import read_nifti
from ctlabel.team import admin
from ctlabel.team.db import Upload

ANNOTATORS = 4
VARIANTS = [(10,), (10, 11), (11, 12), (12,), (9, 10, 11), (13, 14)]


def _uploader(url: str, token: str, case: str, bodies: list[bytes], log: dict, stop: threading.Event) -> None:
    """Upload variants in turn, each naming the last acknowledged hash; record acks and the one in flight."""
    api = httpx.Client(base_url=url + "/api/v1", timeout=30, headers={"Authorization": f"Bearer {token}"})
    etag, i = "none", 0
    while not stop.is_set():
        body = bodies[i % len(bodies)]
        log["in_flight"] = body
        try:
            r = api.put(f"/cases/{case}/draft", content=body, headers={"If-Match": f'"{etag}"'})
        except httpx.HTTPError:
            return  # the server died with this upload in flight
        assert r.status_code == 200, r.text
        etag = r.json()["etag"]
        log["acked"].append(etag)
        log["in_flight"] = None
        i += 1


@pytest.mark.slow
def test_team_kill_during_uploads(tmp_path, db_url, serve, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=ANNOTATORS)
    tokens = [admin.add_user(svc, f"a{i}", "annotator") for i in range(ANNOTATORS)]
    server = serve(svc.root)
    cases = [httpx.post(server.url + "/api/v1/cases/next", headers={"Authorization": f"Bearer {t}"}).json()["case"]
             for t in tokens]
    bodies = {c: [brain_mask_bytes(svc.cases_dir / c, slices=v) for v in VARIANTS] for c in cases}
    logs = {c: {"acked": [], "in_flight": None} for c in cases}
    stop = threading.Event()
    threads = [threading.Thread(target=_uploader, args=(server.url, t, c, bodies[c], logs[c], stop))
               for t, c in zip(tokens, cases)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 60
    while sum(len(lg["acked"]) for lg in logs.values()) < 3 * ANNOTATORS and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    server.kill()  # kill -9 in the middle of uploads
    stop.set()
    for th in threads:
        th.join(30)
    assert all(len(lg["acked"]) >= 1 for lg in logs.values()), {c: len(lg["acked"]) for c, lg in logs.items()}

    restarted = serve(svc.root)  # removes half-received uploads, resyncs states
    with svc.tx() as db:
        stored = {u.voxel_sha256 for u in db.scalars(select(Upload))}
    for t, c in zip(tokens, cases):
        case = Case(svc.cases_dir / c)
        acked = logs[c]["acked"]
        saved = [ev.get("VoxelSHA256") for ev in read_json(case.record_path)["Events"] if ev["Action"] == "saved"]
        # every acknowledged upload is a saved event, in order, and in the database
        it = iter(saved)
        assert all(any(h == s for s in it) for h in acked), (acked, saved)
        assert set(acked) <= stored
        # the draft is the last acknowledged upload, or the one in flight written whole
        draft = case.load_draft()
        assert draft.hash_matches
        if draft.voxel_hash != acked[-1]:
            flight = logs[c]["in_flight"]
            assert flight is not None
            path = tmp_path / f"{c}_flight.nii.gz"
            path.write_bytes(flight)
            assert np.array_equal(read_nifti(path).array, draft.array)
        rep = verify_case(case)
        assert rep.ok, rep.to_dict()
        # the server works after the restart: the stale lock of the dead server is taken over
        api = httpx.Client(base_url=restarted.url + "/api/v1", headers={"Authorization": f"Bearer {t}"}, timeout=30)
        current = api.get(f"/cases/{c}/files/draft").headers["etag"].strip('"')
        assert current == draft.voxel_hash
        r = api.put(f"/cases/{c}/draft", content=bodies[c][0], headers={"If-Match": f'"{current}"'})
        assert r.status_code == 200, r.text
    assert not list((svc.root / "tmp").glob("upload-*"))  # what the dead server was receiving is gone
