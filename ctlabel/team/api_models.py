"""The answers of the team API as pydantic models: what ``/openapi.json`` documents of each output.

The service layer (:mod:`ctlabel.team.claims`, :mod:`ctlabel.team.review_rules`,
:mod:`ctlabel.team.double_read`, :mod:`ctlabel.team.report`, :mod:`ctlabel.team.pay`,
:mod:`ctlabel.team.admin`) returns plain dicts; each route names the model of its answer
(``response_model=``), so FastAPI validates the dict against it and the schema documents it.

Routes use ``response_model_exclude_unset=True``: a key the service leaves out (``marks`` of a
case not rejected, ``reason`` of a case not just claimed) stays out of the answer, as before the
models, instead of coming back as ``null``. The models allow keys they do not declare
(:class:`Answer`), so a field a service adds is never dropped on the way out; the tests
(``tests/team/test_api_models.py``) run real answers through the models and fail on any key a
model does not declare, so the documentation keeps up with the services.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel

#: The 200 answer of a route sending a file (``responses=`` of the route, with ``response_class=Response``).
BINARY_ANSWER: dict[int | str, dict] = {200: {"description": "the file's bytes", "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


class Answer(BaseModel):
    """The base of every answer: undeclared keys pass through (the tests refuse them)."""

    model_config = ConfigDict(extra="allow")


class Ok(Answer):
    """A plain acknowledgement."""

    ok: bool


class Caller(Answer):
    """Who a token belongs to."""

    user: str
    role: str = Field(description="annotator, reviewer or lead")


class SliceMark(Answer):
    """A reviewer's mark on a slice of a rejected case."""

    slice: int
    label: int = 0
    note: str = ""


class CaseSummary(Answer):
    """What a client is told about a case (:meth:`ctlabel.team.core.ProjectCore.case_summary`)."""

    case: str = Field(description="the case's name")
    state: str = Field(description="in_progress, submitted, rejected or approved")
    priority: int
    flagged: str | None = Field(description="why the case was flagged; null when it is not")
    annotator: str | None
    reviewer: str | None
    comment: str | None = Field(description="the last review comment")
    etag: str | None = Field(description="the voxel hash of the caller's editable mask (If-Match of an upload)")
    readers: int = Field(description="1, or 2 for a double-read case")
    versions: list[str] = Field(description="the case's versions, vNNN")
    lease_until: str | None = Field(description="when the annotator's claim runs out (ISO time, UTC)")
    marks: list[SliceMark] | None = Field(None, description="a rejected case: the reviewer's marks")
    rejected_by: str | None = Field(None, description="a rejected case: who rejected it")
    reason: str | None = Field(None, description="a claim: new, rework or held")
    read: int | str | None = Field(None, description="a case read several times: the caller's read slot (1, 2, ...; "
                                                     "A or B before slots were numbers)")


class WorklistCase(CaseSummary):
    """A case of the caller's worklist and the caller's part in it."""

    role: str = Field(description="annotator (also a reader) or reviewer")


class Worklist(Answer):
    """The caller's cases, most recently changed first."""

    cases: list[WorklistCase]


class CaseWithdrawn(CaseSummary):
    """A submission (or a read) taken back: the case, which the caller keeps."""

    withdrawn: bool


class CaseGivenBack(Answer):
    """A case not yet submitted given back to the pool."""

    case: str
    withdrawn: bool


class Withdrawal(RootModel[CaseWithdrawn | CaseGivenBack]):
    """A withdrawal: the case given back, or the submission taken back (with the case's summary)."""

    root: CaseWithdrawn | CaseGivenBack = Field(union_mode="left_to_right")


class Flagged(Answer):
    """A flagged case and why."""

    case: str
    flagged: str


class Heartbeat(Answer):
    """A heartbeat recorded."""

    case: str
    ok: bool


class Uploaded(Answer):
    """A mask received, checked and stored (a draft, a read or a correction)."""

    case: str
    etag: str = Field(description="the voxel hash of the stored mask (also the ETag header)")
    state: str
    size: int = Field(description="bytes received")


class ReadInfo(Answer):
    """One read of a double-read case."""

    slot: int | str = Field(description="1, 2, ... N: unique among the case's standing reads (A or B before "
                                          "slots were numbers)")
    reader: str | None
    status: str = Field(description="open, submitted, released, expired or done")
    version: str | None = Field(description="the read's version once submitted")


class LabelAgreement(Answer):
    """The agreement of two reads on one label."""

    label: int
    name: str
    dice: float
    hd95_mm: float | None = Field(description="null when a read lacks the label")
    volume_a_ml: float
    volume_b_ml: float


class Agreement(Answer):
    """The agreement of a case's two reads, per label."""

    a: str = Field(description="read A's version")
    b: str = Field(description="read B's version")
    labels: list[LabelAgreement]


class CaseAgreement(Agreement):
    """The agreement of the two reads of one case."""

    case: str


class Reads(Answer):
    """The reads of a case and their agreement (null before both are in)."""

    case: str
    state: str
    readers: int
    reads: list[ReadInfo]
    agreement: Agreement | None
    fusion: dict | None = Field(None, description="the fused proposal once all reads are in: method, version, "
                                "disagreement voxels, per reader Dice with the fusion, sensitivity, specificity")


__all__ = ["BINARY_ANSWER", "Agreement", "Answer", "CaseAgreement", "CaseGivenBack", "CaseSummary", "CaseWithdrawn",
           "Caller", "Flagged", "Heartbeat", "LabelAgreement", "Ok", "ReadInfo", "Reads", "SliceMark", "Uploaded",
           "Withdrawal", "Worklist", "WorklistCase"]
