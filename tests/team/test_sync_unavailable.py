"""The Worklist's background upload keeps the draft local when the server answers 502/503/504.

A reverse proxy whose server is restarting answers 502 or 504, and the server answers 503 when the
worker storing an upload died. None of these is a refusal of the draft: it stays local ("offline",
uploaded when the server is back), as when the server cannot be reached at all.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from team_helpers import brain_mask_bytes, make_project

from ctlabel.io.mask import load_mask
from ctlabel.team import admin
from ctlabel.team.client import Client


class _DeadUpstream(BaseHTTPRequestHandler):
    status = 502

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html><body>upstream unavailable</body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_a_draft_stays_local_while_the_server_is_unavailable(tmp_path, db_url, serve, philips_template):
    from ctlabel_napari._team_sync import push_draft

    svc = make_project(tmp_path / "proj", db_url, philips_template, n_cases=1)
    token = admin.add_user(svc, "ann", "annotator")
    server = serve(tmp_path / "proj")
    ann = Client(server.url, token)
    name = ann.next_case()["case"]
    folder = ann.download(name, tmp_path / "work")
    draft = folder / "masks" / "draft_dseg.nii.gz"
    draft.write_bytes(brain_mask_bytes(folder))
    local = load_mask(draft).voxel_hash

    for status in (502, 503, 504):
        handler = type("Handler", (_DeadUpstream,), {"status": status})
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        th = threading.Thread(target=proxy.serve_forever, daemon=True)
        th.start()
        try:
            out = push_draft(Client(f"http://127.0.0.1:{proxy.server_address[1]}", token), folder)
        finally:
            proxy.shutdown()
            proxy.server_close()
        assert out["status"] == "offline" and str(status) in out["reason"]
        assert load_mask(draft).voxel_hash == local
        assert not (svc.cases_dir / name / "masks" / "draft_dseg.nii.gz").exists()

    out = push_draft(ann, folder)  # the server is back
    assert out["status"] == "uploaded" and out["etag"] == local
