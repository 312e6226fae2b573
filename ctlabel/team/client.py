"""``ctlabel.team.Client``: the annotator's and reviewer's side of the team server.

A downloaded case is an ordinary case folder (``ct.nii.gz``, ``ct.json``, ``labels.tsv``,
``masks/draft_dseg.nii.gz``) plus ``.team.json`` (server, case id and the hash of the draft
it started from, sent as If-Match on upload). The folder holding downloaded cases gets the
team marker, so local ``ctlabel submit``/``import`` on a copy is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from ctlabel.case.folder import Case
from ctlabel.errors import CtlabelError
from ctlabel.io.atomic import atomic_open, write_json
from ctlabel.io.provenance import sidecar_path
from ctlabel.progress import Progress
from ctlabel.team.project import MARKER

CHUNK = 1024 * 1024
STATE_FILE = ".team.json"


class ClientError(CtlabelError):
    """The server refused a request (``status`` is the HTTP status, 0 when it could not be reached)."""

    def __init__(self, status: int, reason: str, options: tuple[str, ...] = ()) -> None:
        self.status = status
        super().__init__(reason, options=options)


class Client:
    """A connection to a team server.

    Parameters
    ----------
    url : str
        The server, e.g. ``http://127.0.0.1:8765``.
    token : str
        The bearer token ``ctlabel team user add`` printed.
    timeout : float
        Seconds per request.
    progress : bool
        Show progress of long transfers (``ctlabel.progress.Progress``).
    on_progress : callable(file name, bytes done, bytes total), optional
        Called after every chunk of a download or upload (a GUI's progress bar), from the calling thread.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 120.0, progress: bool = False,
                 on_progress: Callable[[str, int, int], None] | None = None) -> None:
        import httpx

        self.url, self.progress, self.on_progress = url.rstrip("/"), progress, on_progress
        self._http = httpx.Client(base_url=self.url + "/api/v1", timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs):
        import httpx

        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(0, f"cannot reach the team server at {self.url} ({exc})") from None
        if r.status_code >= 400:
            try:
                body = r.json()
                detail = body.get("detail")
            except ValueError:
                body, detail = {}, r.text
            text = detail if isinstance(detail, str) else json.dumps(detail)  # options: the remedy's parameters
            raise ClientError(r.status_code, f"{r.status_code}: {text}", tuple(body.get("options") or ()))
        return r

    def _json(self, method: str, path: str, **kwargs) -> dict:
        return self._request(method, path, **kwargs).json()

    def _get_file(self, path: str, dest: Path) -> str | None:
        """Stream a file to ``dest`` atomically; return its ETag (unquoted) if any."""
        import httpx

        try:
            with self._http.stream("GET", path) as r:
                if r.status_code >= 400:
                    r.read()
                    try:
                        detail = r.json().get("detail")
                    except ValueError:
                        detail = r.text
                    raise ClientError(r.status_code, f"{r.status_code}: {detail}")
                total = int(r.headers.get("content-length") or 0)
                bar = Progress(max(1, -(-total // CHUNK)), f"MiB {dest.name}",
                               enabled=self.progress and total > 4 * CHUNK)
                dest.parent.mkdir(parents=True, exist_ok=True)
                done = 0
                with atomic_open(dest, "wb") as f:
                    for chunk in r.iter_bytes(CHUNK):
                        f.write(chunk)
                        bar.step()
                        done += len(chunk)
                        self._report(dest.name, done, total)
                etag = r.headers.get("etag")
        except httpx.HTTPError as exc:
            raise ClientError(0, f"cannot reach the team server at {self.url} ({exc})") from None
        return etag.strip('"') if etag else None

    def _upload(self, path: str, file: Path, etag: str, params: dict | None = None) -> dict:
        size = file.stat().st_size
        bar = Progress(max(1, -(-size // CHUNK)), f"MiB {file.name}", enabled=self.progress and size > 4 * CHUNK)

        def chunks():
            done = 0
            with open(file, "rb") as f:
                while block := f.read(CHUNK):
                    bar.step()
                    done += len(block)
                    self._report(file.name, done, size)
                    yield block

        return self._json("PUT", path, content=chunks(), params=params or {},
                          headers={"If-Match": f'"{etag}"', "Content-Type": "application/octet-stream",
                                   "Content-Length": str(size)})

    def _report(self, name: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(name, done, total)

    @staticmethod
    def _state(case_dir: str | os.PathLike) -> dict:
        p = Path(case_dir) / STATE_FILE
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise CtlabelError(f"not a case downloaded from a team server (no readable {STATE_FILE})",
                               case_dir) from None

    # --- everyone -------------------------------------------------------------------------
    def me(self) -> dict:
        return self._json("GET", "/me")

    def my_stats(self, since: str | None = None, until: str | None = None) -> dict:
        return self._json("GET", "/me/stats", params={k: v for k, v in (("since", since), ("until", until)) if v})

    def my_cases(self) -> list[dict]:
        """The cases I annotate or review (newest first): state, the reviewer's comment, marks."""
        return self._json("GET", "/me/cases")["cases"]

    def my_accuracy(self) -> dict:
        """My accuracy per label as of today's start (``/me/accuracy``): estimate, each source, trend; no case."""
        return self._json("GET", "/me/accuracy")

    def guidelines(self) -> str:
        return self._request("GET", "/guidelines").text

    def case(self, name: str) -> dict:
        return self._json("GET", f"/cases/{name}")

    def heartbeat(self, name: str) -> dict:
        return self._json("POST", f"/cases/{name}/heartbeat")

    def download(self, name: str, folder: str | os.PathLike = ".") -> Path:
        """Fetch a case into ``folder/<case>``: image, ``labels.tsv`` and the current draft.

        When the image is already there (e.g. after a rejection) only ``ct.json`` is compared
        and the draft is fetched again. Returns the case folder.
        """
        info = self.case(name)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / MARKER
        if not marker.exists():
            write_json(marker, {"TeamClient": self.url, "Note": "cases downloaded from a team server: use "
                                                              "'ctlabel team upload/submit'"})
        case = Case(folder / info["case"])
        root = case.root
        case.masks_dir.mkdir(parents=True, exist_ok=True)
        have_image = case.image_path.exists() and case.image_sidecar.exists()
        sidecar = self._request("GET", f"/cases/{name}/files/ct.json").content
        if not have_image or case.image_sidecar.read_bytes() != sidecar:
            self._get_file(f"/cases/{name}/files/ct.nii.gz", case.image_path)
            with atomic_open(case.image_sidecar, "wb") as f:
                f.write(sidecar)
        self._get_file(f"/cases/{name}/files/labels.tsv", case.labels_path)
        etag = info["etag"]
        kept = _keep_unsent_draft(case, etag)
        if etag != "none":
            etag = self._get_file(f"/cases/{name}/files/draft", case.draft_path) or etag
            side = self._request("GET", f"/cases/{name}/files/draft.json").content
            with atomic_open(sidecar_path(case.draft_path), "wb") as f:
                f.write(side)
        write_json(root / STATE_FILE, {"Server": self.url, "Case": info["case"], "ETag": etag,
                                       "State": info["state"], "Comment": info.get("comment"),
                                       "Marks": info.get("marks", []),
                                       "KeptDrafts": [*self.kept_drafts(root), *([kept] if kept else [])]})
        return root

    @staticmethod
    def kept_drafts(root: str | os.PathLike) -> list[str]:
        """Local drafts a download moved into ``kept/`` because they held changes never uploaded."""
        root = Path(root)
        try:
            return list(json.loads((root / STATE_FILE).read_text(encoding="utf-8")).get("KeptDrafts", []))
        except (OSError, ValueError):
            return []

    # --- annotators --------------------------------------------------------------------------
    def next_case(self) -> dict:
        """Claim the next case (your rejected case first); ClientError 404 when none is left."""
        return self._json("POST", "/cases/next")

    def upload_draft(self, case_dir: str | os.PathLike, file: str | os.PathLike | None = None) -> dict:
        """Upload the case's draft (If-Match: the hash it started from); 409 when the case changed since."""
        st = self._state(case_dir)
        file = Path(file) if file else Case(Path(case_dir)).draft_path
        out = self._upload(f"/cases/{st['Case']}/draft", file, st["ETag"])
        st["ETag"] = out["etag"]
        write_json(Path(case_dir) / STATE_FILE, st)
        return out

    def submit(self, name: str, force: bool = False) -> dict:
        return self._json("POST", f"/cases/{name}/submit", json={"force": force})

    def withdraw(self, name: str) -> dict:
        """Give a case back before submitting it, or take your submission back while no reviewer holds it.

        Parameters
        ----------
        name : str
            The case id.

        Returns
        -------
        dict
            ``withdrawn: true``; after a submission also the case summary (in_progress, a draft
            made from the version withdrawn: download it again).
        """
        return self._json("POST", f"/cases/{name}/withdraw")

    def flag(self, name: str, reason: str) -> dict:
        return self._json("POST", f"/cases/{name}/flag", json={"reason": reason})

    # --- reviewers ------------------------------------------------------------------------------
    def review_next(self, accepted: bool = False) -> dict:  # accepted: pull a case the review policy accepted
        return self._json("POST", "/review/next", params={"accepted": "true"} if accepted else {})

    def approve(self, name: str, comment: str | None = None, version: str | None = None) -> dict:
        """Approve the submitted version; ``version`` picks one: ``fusion``, a read's slot ``1``.. or ``vNNN``.

        Parameters
        ----------
        name : str
            The case id.
        comment : str, optional
            Kept with the approval.
        version : str, optional
            A case read several times: ``fusion``, a read's slot (``"2"``), or a version (a correction).

        Returns
        -------
        dict
            The case summary.
        """
        if version:
            return self._json("POST", f"/cases/{name}/reads/approve", json={"version": version, "comment": comment})
        return self._json("POST", f"/cases/{name}/approve", json={"comment": comment})

    def reads(self, name: str) -> dict:
        """The reads of a case read several times, their agreement and fused proposal (reviewer or lead).

        Parameters
        ----------
        name : str
            The case id.

        Returns
        -------
        dict
            ``reads`` (slot, reader, status, version), ``agreement`` (the first two's) and ``fusion``.
        """
        return self._json("GET", f"/cases/{name}/reads")

    def download_reads(self, name: str, folder: str | os.PathLike = ".") -> dict[str, Path]:
        """Fetch the submitted reads, their fusion and disagreement into ``folder/<case>/masks``.

        Parameters
        ----------
        name : str
            The case id.
        folder : path
            Where the case folder is (or goes).

        Returns
        -------
        dict
            Slot (``"1"``, ...), ``"fusion"`` or ``"disagreement"`` -> the file written.
        """
        from ctlabel.case.record import version_number
        from ctlabel.measure.fusion import write_disagreement

        info = self.reads(name)
        case, out = Case(Path(folder) / info["case"]), {}
        wanted = [(str(r["slot"]), r["version"]) for r in info["reads"] if r["status"] == "submitted" and r["version"]]
        wanted += [("fusion", info["fusion"]["version"])] if info.get("fusion") else []
        for key, version in wanted:
            dest = case.version_path(version_number(version) or 0)
            self._get_file(f"/cases/{name}/reads/{key}", dest)
            side = self._request("GET", f"/cases/{name}/reads/{key}.json").content
            with atomic_open(sidecar_path(dest), "wb") as f:
                f.write(side)
            out[key] = dest
        if "fusion" in out and len(out) > 2:  # where the reads differ: measure.fusion.disagreement_map
            out["disagreement"] = write_disagreement([v for k, v in out.items() if k != "fusion"], out["fusion"],
                                                     case.masks_dir / "disagreement.nii.gz")
        return out

    def reject(self, name: str, comment: str, marks: list[dict] | None = None) -> dict:
        return self._json("POST", f"/cases/{name}/reject", json={"comment": comment, "marks": marks or []})

    def correct(self, case_dir: str | os.PathLike, comment: str | None = None,
                file: str | os.PathLike | None = None) -> dict:
        """Upload a reviewer's correction of the submitted version (a new version, still submitted)."""
        st = self._state(case_dir)
        file = Path(file) if file else Case(Path(case_dir)).draft_path
        out = self._upload(f"/cases/{st['Case']}/correction", file, st["ETag"],
                           params={"comment": comment} if comment else None)
        st["ETag"] = out["etag"]
        write_json(Path(case_dir) / STATE_FILE, st)
        return out

    # --- lead -----------------------------------------------------------------------------------
    def report(self, since: str | None = None, until: str | None = None) -> dict:
        params = {k: v for k, v in (("since", since), ("until", until)) if v}
        return self._json("GET", "/report", params=params)

    def reopen(self, name: str, reason: str) -> dict:
        return self._json("POST", f"/cases/{name}/reopen", json={"reason": reason})

    def set_guidelines(self, text: str) -> dict:
        return self._json("PUT", "/guidelines", content=text.encode("utf-8"))

    def set_rates(self, **cents) -> dict:
        return self._json("PUT", "/rates", json=cents)

    def add_user(self, name: str, role: str) -> dict:
        return self._json("POST", "/users", json={"name": name, "role": role})

    def rotate(self, name: str) -> dict:
        return self._json("POST", f"/users/{name}/rotate")

    def revoke(self, name: str) -> dict:
        return self._json("POST", f"/users/{name}/revoke")


def _keep_unsent_draft(case: Case, server_etag: str) -> str | None:
    """Move a local draft with changes never uploaded out of the way of a download; return where.

    A download replaces ``masks/draft_dseg.nii.gz`` with the server's draft. When the local draft
    holds voxels that are neither what it was downloaded as (the ETag in the state file) nor the
    server's draft, it is renamed into ``kept/`` with its sidecar, never overwritten.
    """
    root, draft = case.root, case.draft_path
    side = sidecar_path(draft)
    if not draft.exists():
        return None
    from ctlabel.io.mask import load_mask

    try:
        local: str | None = load_mask(draft).voxel_hash  # the voxels, whatever the sidecar says
    except CtlabelError:
        local = None  # unreadable: kept aside, not thrown away
    try:
        started = json.loads((root / STATE_FILE).read_text(encoding="utf-8")).get("ETag")
    except (OSError, ValueError):
        started = None
    if local is not None and local in (started, server_etag):
        return None  # nothing local that the server does not have
    import datetime as dt

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    (root / "kept").mkdir(exist_ok=True)
    target = root / "kept" / f"draft-{stamp}_dseg.nii.gz"
    os.replace(draft, target)
    if side.exists():
        os.replace(side, target.with_name(f"draft-{stamp}_dseg.json"))
    return str(target)


__all__ = ["Client", "ClientError"]
