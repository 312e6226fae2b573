"""The double-reading routes of the team API: the reads A and B of a case, their agreement, approving one.

Reviewers and the lead only (an annotator never sees the other reader's work). See
:mod:`ctlabel.team.double_read`.
"""

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from ctlabel.io.provenance import sidecar_path
from ctlabel.team.api_deps import Me, Svc
from ctlabel.team.api_models import BINARY_ANSWER, CaseAgreement, CaseSummary, Reads
from ctlabel.team.errors import NotFound

router = APIRouter()


class ApproveReadBody(BaseModel):
    """Which version to approve (``fusion``, a read's slot ``1``.., ``A``/``B`` as before, a ``vNNN``), a comment."""

    version: str
    comment: str | None = None


@router.get("/cases/{name}/reads", response_model=Reads)
def reads(name: str, user: Me, svc: Svc) -> dict:
    """The reads of a case (slot, reader, status, version) and their agreement (Dice, HD95 per label)."""
    return svc.double_reads.reads_info(user, name)


@router.get("/cases/{name}/agreement", response_model=CaseAgreement)
def agreement(name: str, user: Me, svc: Svc) -> dict:
    """The agreement of the two reads of a case; 404 before both are in."""
    out = svc.double_reads.reads_info(user, name)["agreement"]
    if out is None:
        raise NotFound(f"case {name} has no agreement yet (both reads are needed)")
    return {"case": name, **out}


@router.get("/cases/{name}/reads/{which}", response_class=Response, responses=BINARY_ANSWER)
def read_file(name: str, which: str, user: Me, svc: Svc) -> Response:
    """The mask of read ``1``, ``2``, ... or of the ``fusion`` (``.json``: its sidecar); ETag: its voxel hash."""
    slot, _, ext = which.partition(".")
    if ext not in ("", "json"):
        raise NotFound(f"no file {which!r}; files are a read's slot (1, 2, ...) or fusion, each also as .json")
    case, number = svc.double_reads.read_version(user, name, slot)
    path = case.version_path(number)
    if not path.is_file():
        raise NotFound(f"case {name} has no version {number}")
    mask_hash = svc.double_reads.version_hash(case, number)
    data = (sidecar_path(path) if ext else path).read_bytes()
    return Response(data, media_type="application/octet-stream", headers={"ETag": f'"{mask_hash}"'})


@router.post("/cases/{name}/reads/approve", response_model=CaseSummary, response_model_exclude_unset=True)
def approve_read(name: str, body: ApproveReadBody, user: Me, svc: Svc) -> dict:
    """Approve the fusion, one read (its slot) or a version (the reviewer's correction): the delivered version."""
    return svc.reviews.approve_read(user, name, body.version, body.comment)


__all__ = ["router"]
