"""Decompression bombs: a NIfTI is checked from its header before any voxel is read, and read no further.

A 2 MB ``.nii.gz`` whose header declares 1024 x 1024 x 2048 uint8 (2 GiB of zeros in gzip members)
used to be decompressed whole before its shape was compared with the case grid (4.1 GiB of growth
of the server and its workers, 45-66 s before the 422). Now the header is refused, by the server
(upload), ``ctlabel import`` and ``ctlabel qa`` alike, through ``ctlabel.io.nifti.read_nifti``.
"""

from __future__ import annotations

import shutil
import threading
import time
import tracemalloc

import httpx
import nibabel as nib
import numpy as np
import psutil
import pytest
from nifti_bombs import nifti_bomb
from served import DATABASES, served_project
from team_helpers import brain_mask_bytes

from ctlabel.cli.main import main
from ctlabel.errors import GeometryError, InputError
from ctlabel.io.nifti import MAX_HEADER_BYTES, read_nifti, read_nifti_header
from ctlabel.measure.qa_targets import qa_target
from ctlabel.team import admin
from ctlabel.volume import Grid

BOMB_SHAPE = (1024, 1024, 2048)  # on disk (i, j, k): 2 GiB of uint8
MIB = 1 << 20


def _peak_mib(fn):
    """Run ``fn``; the peak of Python and numpy allocations meanwhile (MiB) and what it raised."""
    tracemalloc.start()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - returned for the test to check
        raised = exc
    else:
        raised = None
    finally:
        peak = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    return peak, raised


@pytest.fixture
def case_dir(tmp_path, philips_template):
    dest = tmp_path / philips_template.name
    shutil.copytree(philips_template, dest)
    return dest


def test_read_nifti_refuses_a_bomb_from_its_header(tmp_path, case_dir):
    img = nib.load(case_dir / "ct.nii.gz")
    grid = Grid(img.shape[::-1], img.affine)
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(nifti_bomb(BOMB_SHAPE, img.affine))
    assert bomb.stat().st_size < 3 * MIB
    assert read_nifti_header(bomb).shape == BOMB_SHAPE[::-1]
    # on a grid: refused from the header, with Grid's message, without reading a voxel
    peak, exc = _peak_mib(lambda: read_nifti(bomb, grid=grid, what="the uploaded mask"))
    assert isinstance(exc, GeometryError) and "has shape (2048, 1024, 1024) but the image grid is" in exc.reason
    assert peak < 50, f"{peak:.0f} MiB allocated to refuse a header"
    # a bound on the voxels: the same
    peak, exc = _peak_mib(lambda: read_nifti(bomb, max_voxels=grid.shape[0] * grid.shape[1] * grid.shape[2]))
    assert isinstance(exc, InputError) and "more than the" in exc.reason and peak < 50

    # the right grid, but gzip members beyond the voxels (256 MiB more): refused, never decompressed past the bound
    n = int(np.prod(img.shape))
    trailing = tmp_path / "trailing.nii.gz"
    trailing.write_bytes(nifti_bomb(img.shape, img.affine, data_bytes=n + 256 * MIB))
    peak, exc = _peak_mib(lambda: read_nifti(trailing, grid=grid))
    assert isinstance(exc, InputError) and "more data than the" in exc.reason, exc
    assert peak < 50 + n / MIB
    # one byte more is already more
    one = tmp_path / "one.nii.gz"
    one.write_bytes(nifti_bomb(img.shape, img.affine, data_bytes=n + 1))
    with pytest.raises(InputError, match="more data than"):
        read_nifti(one, grid=grid)
    # the exact size reads (zeros), uncompressed too
    exact = tmp_path / "exact.nii.gz"
    exact.write_bytes(nifti_bomb(img.shape, img.affine))
    assert read_nifti(exact, grid=grid).array.shape == grid.shape
    raw = tmp_path / "exact.nii"
    import gzip

    raw.write_bytes(gzip.decompress(exact.read_bytes()))
    assert not read_nifti(raw, grid=grid).array.any()
    raw.write_bytes(raw.read_bytes() + b"\0")
    with pytest.raises(InputError, match="more data than"):
        read_nifti(raw)
    # fewer voxels than declared
    short = tmp_path / "short.nii.gz"
    short.write_bytes(nifti_bomb(img.shape, img.affine, data_bytes=n - 10))
    with pytest.raises(InputError, match="ends after"):
        read_nifti(short)
    # a header putting its voxels 1 GiB further (extensions as the bomb): refused from the first bytes
    far = tmp_path / "far.nii.gz"
    far.write_bytes(nifti_bomb((4, 4, 4), img.affine, offset=1 << 30, data_bytes=64))
    peak, exc = _peak_mib(lambda: read_nifti(far))
    assert isinstance(exc, InputError) and str(MAX_HEADER_BYTES) in exc.reason and peak < 50


def test_import_and_qa_refuse_a_bomb(tmp_path, case_dir, capsys):
    img = nib.load(case_dir / "ct.nii.gz")
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(nifti_bomb(BOMB_SHAPE, img.affine))
    # ctlabel import: the header against the case grid, exit 2 with the file and the reason
    codes: list = []
    peak, exc = _peak_mib(lambda: codes.append(main(["import", str(bomb), "--case", str(case_dir), "--user", "x"])))
    assert exc is None and codes == [2] and peak < 50
    err = capsys.readouterr().err
    assert "error:" in err and "bomb.nii.gz" in err and "shape (2048, 1024, 1024)" in err
    # ctlabel qa of a mask file with its image, or in a case's masks/ folder: refused from the header
    reports: list = []
    peak, exc = _peak_mib(lambda: reports.append(qa_target(bomb, image=case_dir / "ct.nii.gz")))
    assert exc is None and peak < 512  # reading the image takes ~270 MiB; the bomb declares 2048 MiB
    assert "more than its image" in reports[-1].error and "bomb.nii.gz" in reports[-1].error
    inside = case_dir / "masks" / "bomb.nii.gz"
    shutil.copy(bomb, inside)
    peak, exc = _peak_mib(lambda: reports.append(qa_target(inside)))
    assert exc is None and peak < 50 and "more than its image" in reports[-1].error

@pytest.fixture(scope="module", params=DATABASES)
def served(request, tmp_path_factory, philips_template):
    yield from served_project(request, tmp_path_factory, philips_template, n_cases=4)


def _server_rss(proc: psutil.Process) -> list[psutil.Process]:
    return [proc, *proc.children(recursive=True)]


def test_upload_of_a_bomb_is_refused_from_its_header(served):
    svc, server = served
    tok = admin.add_user(svc, "bomber", "annotator")
    api = httpx.Client(base_url=server.url + "/api/v1", timeout=120, headers={"Authorization": f"Bearer {tok}"})
    case = api.post("/cases/next").json()["case"]
    folder = svc.cases_dir / case
    img = nib.load(folder / "ct.nii.gz")
    # a good upload first: the worker has imported what a read needs
    r = api.put(f"/cases/{case}/draft", content=brain_mask_bytes(folder), headers={"If-Match": "none"})
    assert r.status_code == 200, r.text
    etag = r.json()["etag"]
    n = int(np.prod(img.shape))
    bodies = {"bomb": nifti_bomb(BOMB_SHAPE, img.affine),
              "trailing": nifti_bomb(img.shape, img.affine, data_bytes=n + 1024 * MIB)}
    for kind, body in bodies.items():
        procs = _server_rss(psutil.Process(server.proc.pid))
        base = {p.pid: p.memory_info().rss for p in procs}
        peak = dict(base)
        done = threading.Event()

        def sample(procs=procs, peak=peak, done=done):
            while not done.is_set():
                for p in procs:
                    try:
                        peak[p.pid] = max(peak[p.pid], p.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.002)

        watcher = threading.Thread(target=sample)
        watcher.start()
        try:
            r = api.put(f"/cases/{case}/draft", content=body, headers={"If-Match": etag})
        finally:
            done.set()
            watcher.join()
        growth = sum(peak[p] - base[p] for p in base) / MIB
        assert r.status_code == 422, (kind, r.status_code, r.text)
        detail = r.json()["detail"]
        if kind == "bomb":
            assert "has shape (2048, 1024, 1024) but the image grid is (28, 512, 512)" in detail
        else:
            assert "more data than the" in detail and f"{n} bytes of voxels" in detail
        assert growth < 50, f"{kind}: the server and its workers grew by {growth:.0f} MiB"
    # nothing was stored, nothing left in tmp
    assert api.get(f"/cases/{case}").json()["etag"] == etag
    assert not list((svc.root / "tmp").glob("upload-*"))


def _stalled_put(url: str, path: str, headers: dict, declared: int = 64 * MIB, sent: int = MIB, wait: float = 10.0):
    """PUT announcing ``declared`` bytes but sending only ``sent``; the answer if one comes within ``wait`` s.

    Returns (status, detail, upload files in the project's tmp meanwhile); status None when the
    server waited for the rest of the body.
    """
    import http.client
    import json
    import socket
    from urllib.parse import urlsplit

    host = urlsplit(url)
    sock = socket.create_connection((host.hostname, host.port))
    try:
        head = [f"PUT {path} HTTP/1.1", f"Host: {host.netloc}", "Content-Type: application/octet-stream",
                f"Content-Length: {declared}", *[f"{k}: {v}" for k, v in headers.items()], "", ""]
        sock.sendall("\r\n".join(head).encode())
        sock.sendall(bytes(sent))
        sock.settimeout(wait)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except TimeoutError:
            return None, None
        return response.status, json.loads(response.read(int(response.getheader("content-length"))))["detail"]
    finally:
        sock.close()


def test_uploads_are_refused_before_their_body_is_read(served):
    """A case that does not exist, somebody else's case, a stale If-Match: answered before the body, nothing spooled."""
    svc, server = served
    tok = {n: admin.add_user(svc, n, r) for n, r in (("owner", "annotator"), ("other", "annotator"),
                                                      ("rev1", "reviewer"))}
    api = httpx.Client(base_url=server.url + "/api/v1", timeout=120)
    case = api.post("/cases/next", headers={"Authorization": f"Bearer {tok['owner']}"}).json()["case"]
    tmp = svc.root / "tmp"

    def auth(who: str, if_match: str | None = '"none"') -> dict:
        return {"Authorization": f"Bearer {tok[who]}", **({"If-Match": if_match} if if_match else {})}

    refusals = [
        (f"/api/v1/cases/{'no_such_case'}/draft", auth("owner"), 404, "no case"),
        (f"/api/v1/cases/{case}/draft", auth("other"), 403, "not yours"),
        (f"/api/v1/cases/{case}/correction", auth("other"), 403, "needs reviewer"),
        (f"/api/v1/cases/{case}/correction", auth("rev1"), 409, "not submitted"),
        (f"/api/v1/cases/{case}/draft", auth("owner", '"0123abc"'), 409, "changed since"),
        (f"/api/v1/cases/{case}/draft", auth("owner", None), 409, "If-Match"),
    ]
    for path, headers, status, words in refusals:
        t0 = time.monotonic()
        got, detail = _stalled_put(server.url, path, headers)
        assert got == status, (path, headers.get("If-Match"), got, "the server waited for the body")
        assert words in detail and time.monotonic() - t0 < 10
        assert not list(tmp.glob("upload-*")), "the body was spooled before the upload was allowed"
    # a client sending the whole body still gets the refusal (the server reads and drops the rest)
    r = api.put("/cases/no_such_case/draft", headers=auth("owner"), content=bytes(4 * MIB))
    assert r.status_code == 404
    # and the case's owner, with the right If-Match, uploads as before
    folder = svc.cases_dir / case
    r = api.put(f"/cases/{case}/draft", headers=auth("owner"), content=brain_mask_bytes(folder))
    assert r.status_code == 200, r.text
    assert not list(tmp.glob("upload-*"))
