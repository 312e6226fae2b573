"""`ctlabel team serve` checks uploads and runs a submit's QA in worker processes of lower priority.

The short requests (heartbeats, claims, small downloads) stay in the server process; the workers
do the volume work, refusals raised there reach the client with their status, a worker that dies is
replaced, and the workers die with the server, even when it is killed with SIGKILL.
"""

from __future__ import annotations

import signal
import time

import httpx
import psutil
import pytest
from team_helpers import brain_mask_bytes, make_project

from ctlabel.io.mask import load_mask
from ctlabel.team import admin
from ctlabel.team.client import Client
from ctlabel.team.volume_work import NICE


def _workers(server) -> list[psutil.Process]:
    """The server's volume workers: its children running at the lowered priority."""
    me = psutil.Process(server.proc.pid)
    return [c for c in me.children() if c.nice() == me.nice() + NICE]


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def test_uploads_and_submits_run_in_lower_priority_workers_that_die_with_the_server(
        tmp_path, db_url, serve, philips_template):
    if psutil.Process().nice() + NICE > 19:
        pytest.skip("this process is already at the lowest priority")
    svc = make_project(tmp_path / "proj", db_url, philips_template, n_cases=2)
    server = serve(tmp_path / "proj")
    token = admin.add_user(svc, "ann", "annotator")
    ann = Client(server.url, token)
    workers = _workers(server)
    assert len(workers) == 2, [p.cmdline() for p in psutil.Process(server.proc.pid).children()]
    main = psutil.Process(server.proc.pid)
    before = {p.pid: _cpu(p) for p in workers}
    main_before = _cpu(main)

    name = ann.next_case()["case"]
    folder = ann.download(name, tmp_path / "work")
    # a refusal raised in a worker keeps its status and its words
    r = httpx.put(f"{server.url}/api/v1/cases/{name}/draft", content=brain_mask_bytes(folder),
                  headers={"Authorization": f"Bearer {token}", "If-Match": '"0000"'})
    assert r.status_code == 409 and "the case changed since this draft was downloaded" in r.json()["detail"]
    r = httpx.put(f"{server.url}/api/v1/cases/{name}/draft", content=brain_mask_bytes(folder, shape=(4, 4, 4)),
                  headers={"Authorization": f"Bearer {token}", "If-Match": '"none"'})
    assert r.status_code == 422 and "grid" in r.json()["detail"]

    (folder / "masks" / "draft_dseg.nii.gz").write_bytes(brain_mask_bytes(folder))
    ann.upload_draft(folder)
    out = ann.submit(name, force=True)
    assert out["state"] == "submitted"
    # the volume work (reading the mask, the CT, QA, the frozen version) was done by the workers
    spent = sum(_cpu(p) - before[p.pid] for p in workers)
    assert spent > 0.2, spent
    assert spent > _cpu(main) - main_before

    # a worker that dies (killed, out of memory) is replaced: the next upload goes through
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(10)
    second = ann.next_case()["case"]
    folder = ann.download(second, tmp_path / "work")
    draft = folder / "masks" / "draft_dseg.nii.gz"
    draft.write_bytes(brain_mask_bytes(folder, slices=(12, 13)))
    assert ann.upload_draft(folder)["etag"] == load_mask(draft).voxel_hash
    assert load_mask(svc.cases_dir / second / "masks" / "draft_dseg.nii.gz").voxel_hash == load_mask(draft).voxel_hash
    workers = _workers(server)
    assert workers

    server.kill()  # SIGKILL: no chance to stop its workers itself
    deadline = time.monotonic() + 10
    while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers):
        assert time.monotonic() < deadline, "a volume worker outlived the server"
        time.sleep(0.1)
