"""Reading by several annotators on the team server: N readers, their fusion, the reviewer's choice.

:class:`DoubleReads`, a collaborator of :class:`ctlabel.team.service.Service`. A case has
``readers`` N >= 1 (the project's setting, ``ctlabel team init --readers N`` or ``ctlabel team
readers PROJECT N``, fixed for a case at its first claim). With N >= 2, each claim gives a reader
slot (1, 2, ... N, unique among the case's standing reads) to a different annotator (a
:class:`~ctlabel.team.db.Read` row with its own lease); each reader uploads into their own draft
(``masks/draft-<reader>_dseg.nii.gz``) and submits it as a read (:mod:`ctlabel.case.reads`).
When all reads are in, they are fused (:func:`ctlabel.measure.fusion.fuse`, STAPLE or majority
vote, the project's ``fusion``) into the version under review, the first two are compared
(:func:`ctlabel.measure.compare.compare_masks`) and the agreement is stored
(:class:`~ctlabel.team.db.Agreement`, and an ``agreement`` event). **Adaptive reading**
(``more_reads_below``): a case first gets two reads; when the lowest per-label Dice of those two
is below the setting it gets the rest of its N reads, otherwise it is submitted with two. The
reviewer approves the fusion, one read, or a correction. A reader may withdraw their read while
no reviewer holds the case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from ctlabel.case import reads as case_reads
from ctlabel.case import record as case_record
from ctlabel.case import workflow
from ctlabel.case.folder import Case
from ctlabel.measure.compare import LabelAgreement, compare_masks
from ctlabel.measure.fusion import fuse, lowest_dice, recorded_figures
from ctlabel.model import Action, CaseRecord, FusionMethod
from ctlabel.team.core import ProjectCore
from ctlabel.team.db import Agreement, CaseRow, Read, User, utcnow
from ctlabel.team.errors import Conflict, Forbidden, Invalid, NotFound, as_utc
from ctlabel.team.qa_note import submit_note

#: The letters slots had before they became numbers (migration 0007): still accepted where a slot is named.
OLD_SLOTS = {"A": 1, "B": 2}
#: The most readers a case may have.
MAX_READERS = 16


def multi_read(row: CaseRow) -> bool:
    """Whether the case is read by several annotators (its readers were fixed at 2 or more)."""
    return (row.readers or 1) >= 2


def active_read(now: dt.datetime) -> ColumnElement[bool]:
    """The SQL condition of a read that holds its slot: submitted, or open with a live lease."""
    return or_(Read.status == "submitted", and_(Read.status == "open", Read.lease_until >= now))


def require_no_reviewer(row: CaseRow) -> None:
    """Conflict once a reviewer holds the case (a submission or read can no longer be withdrawn)."""
    lease = as_utc(row.review_lease_until)
    if row.reviewer_id is not None and lease is not None and lease >= utcnow():
        raise Conflict(f"a reviewer has claimed case {row.name}; it can no longer be withdrawn")


class DoubleReads:
    """The double-reading rules: reader slots, reads, their agreement.

    Parameters
    ----------
    core : ProjectCore
        The project's shared plumbing.
    """

    def __init__(self, core: ProjectCore) -> None:
        self.core = core

    # --- which cases are double reads ------------------------------------------------------
    def readers_of(self, db: Session, row: CaseRow) -> int:
        """How many readers the case has (its own setting, else the project's)."""
        return row.readers or self.core.settings(db).readers or 1

    def reads(self, db: Session, row: CaseRow, *, standing: bool = True) -> list[Read]:
        """The case's reads (only those holding a slot, by default), A before B."""
        q = select(Read).where(Read.case_id == row.id)
        if standing:
            q = q.where(active_read(utcnow()))
        return list(db.scalars(q.order_by(Read.slot, Read.id)))

    def my_read(self, db: Session, user: User, row: CaseRow) -> Read | None:
        """The caller's read of the case (open or submitted), if any."""
        return db.scalar(select(Read).where(Read.case_id == row.id, Read.user_id == user.id,
                                            Read.status.in_(("open", "submitted"))).order_by(Read.id.desc()))

    def reader_name(self, db: Session, user: User, row: CaseRow) -> str | None:
        """The caller's reader name on a case read several times (their drafts are named by it), else None."""
        if not multi_read(row):
            return None
        return user.name if self.my_read(db, user, row) is not None else None

    def require_reader_of(self, db: Session, user: User, row: CaseRow) -> Read:
        """The caller reads this double-read case (their lease expired and their slot taken: 403)."""
        self.core.require_role(user, "annotator")
        mine = self.my_read(db, user, row)
        if mine is None:
            raise Forbidden(f"case {row.name} is not yours")
        if mine.status == "open" and mine.lease_until is not None and as_utc(mine.lease_until) < utcnow():
            taken = db.scalar(select(func.count(Read.id)).where(Read.case_id == row.id, Read.slot == mine.slot,
                                                                Read.id != mine.id, active_read(utcnow())))
            if taken:
                raise Forbidden(f"your claim of case {row.name} expired and it went to somebody else")
        return mine

    def open_reads(self, db: Session, user: User) -> list[CaseRow]:
        """The double-read cases the annotator holds an open read of (for the open-case limit)."""
        now = utcnow()
        return list(db.scalars(select(CaseRow).join(Read, Read.case_id == CaseRow.id).where(
            Read.user_id == user.id, Read.status == "open", Read.lease_until >= now).order_by(CaseRow.id)))

    # --- claiming a read -----------------------------------------------------------------------
    def double_candidate(self, db: Session, user: User, now: dt.datetime) -> CaseRow | None:
        """The best multi-read case with a free slot that the annotator does not read already."""
        settings = self.core.settings(db)
        proj = settings.readers or 1
        if proj < 2 and db.scalar(select(CaseRow.id).where(CaseRow.readers >= 2).limit(1)) is None:
            return None
        first = min(proj, 2) if settings.more_reads_below is not None else proj  # reads of a case not claimed yet
        held = select(func.count(Read.id)).where(Read.case_id == CaseRow.id, active_read(now)).scalar_subquery()
        mine = exists().where(Read.case_id == CaseRow.id, Read.user_id == user.id, active_read(now))
        q = (select(CaseRow).where(CaseRow.state == workflow.IN_PROGRESS, CaseRow.flagged.is_(None),
                                   func.coalesce(CaseRow.readers, proj) >= 2,
                                   held < func.coalesce(CaseRow.readers, first), ~mine)
             .order_by(CaseRow.priority.desc(), CaseRow.id).limit(1))
        if self.core.postgres:
            q = q.with_for_update(of=CaseRow, skip_locked=True)
        return db.scalar(q)

    def claim_read(self, db: Session, user: User, row: CaseRow, now: dt.datetime) -> dict:
        """Give the annotator the lowest free slot of a multi-read case (inside the claim's transaction)."""
        if row.readers is None:  # fixed at the first claim
            settings = self.core.settings(db)
            n = settings.readers or 1
            adaptive = settings.more_reads_below is not None and n > 2
            row.readers, row.readers_max = (2, n) if adaptive else (n, None)
        taken = {r.slot for r in self.reads(db, row)}
        slot = next(s for s in range(1, (row.readers or 2) + 1) if s not in taken)
        for old in db.scalars(select(Read).where(Read.case_id == row.id, Read.slot == slot, Read.status == "open")):
            old.status = "expired"  # its lease ran out: the slot is free
        db.flush()  # before the new read takes the slot (uq_reads_standing_slot)
        lease = now + dt.timedelta(seconds=self.core.settings(db).lease_s)
        db.add(Read(case_id=row.id, user_id=user.id, slot=slot, status="open", lease_until=lease, claimed=now))
        self.core.log(db, user, row, "claim", read=slot)
        return {**self.core.case_summary(db, row, reason="new", reader=user.name), "read": slot}

    def renew_read(self, db: Session, user: User, row: CaseRow) -> None:
        """Extend the lease of the caller's open read of the case, if they hold one."""
        mine = self.my_read(db, user, row)
        if mine is not None and mine.status == "open":
            mine.lease_until = utcnow() + dt.timedelta(seconds=self.core.settings(db).lease_s)

    # --- submitting and withdrawing a read -------------------------------------------------------
    def submit_read(self, user: User, name: str, force: bool = False) -> dict:
        """Submit the caller's read; with both reads in, the case is submitted and compared."""
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            mine = self.require_reader_of(db, user, row)
            if mine.status == "submitted":
                raise Conflict(f"your read of case {name} is submitted already")
            case_id, slot = row.id, mine.slot
            settings = self.core.settings(db)
            needed, most = row.readers or 2, row.readers_max
            method, below = FusionMethod(settings.fusion or "staple"), settings.more_reads_below
        seen: list[float | None] = []

        def enough(masks) -> bool:  # adaptive reading: the first two reads agree well enough
            seen.append(lowest_dice(masks[0].array, masks[1].array))
            return below is None or seen[-1] is None or seen[-1] >= below

        with self.core.case_lock(case_id):
            case = self.core.folder(row)
            n = self.core.change(case_reads.submit_read, case, user.name, user.name, needed=most or needed,
                                 force=force, enough=enough if most else None,
                                 fuse=lambda masks, readers: fuse([m.array for m in masks], method, readers))
            record = case_record.load_case_record(case)
            compared = _compare(case, record) if record.state == workflow.SUBMITTED else None
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                self.core.sync(db, row)
                if most and seen and record.state != workflow.SUBMITTED:
                    row.readers = most  # the first two disagree: the case gets its further reads
                    self.core.log(db, None, row, "more_reads", lowest_dice=seen[-1], below=below, readers=most)
                again = self.my_read(db, user, row)
                assert again is not None  # held above, under the case lock
                mine = again
                mine.status, mine.version, mine.lease_until = "submitted", case_record.version_name(n), None
                self.core.log(db, user, row, "submit", version=mine.version, read=slot, resubmission=False,
                         **submit_note(record, Action.READ))
                if compared is not None:
                    self._store_agreement(db, row, compared)
                return {**self.core.case_summary(db, row, reader=user.name), "read": slot}

    def _store_agreement(self, db: Session, row: CaseRow,
                         compared: tuple[tuple[str, str], list[LabelAgreement]]) -> None:
        (va, vb), rows = compared
        db.execute(delete(Agreement).where(Agreement.case_id == row.id))
        for r in rows:
            db.add(Agreement(case_id=row.id, version_a=va, version_b=vb, label=r.label, name=r.name[:100],
                             dice=r.dice, hd95_mm=r.hd95_mm, volume_a_ml=r.volume_a_ml, volume_b_ml=r.volume_b_ml))
        dice = [r.dice for r in rows]
        self.core.log(db, None, row, "agreement", a=va, b=vb, labels=len(rows),
                 mean_dice=round(sum(dice) / len(dice), 4) if dice else None)

    def withdraw_read(self, user: User, name: str) -> dict:
        """The reader gives back an open read (their draft stays) or withdraws a submitted one."""
        with self.core.tx() as db:
            row = self.core.get_case(db, name, lock=True)
            mine = self.require_reader_of(db, user, row)
            if mine.status == "open":
                mine.status = "withdrawn"
                self.core.log(db, user, row, "withdraw", read=mine.slot)
                return {"case": row.name, "withdrawn": True}
            require_no_reviewer(row)
            case_id, slot = row.id, mine.slot
        with self.core.case_lock(case_id):
            n = self.core.change(case_reads.withdraw, self.core.folder(row), user.name, reader=user.name)
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                self.core.sync(db, row)
                row.reviewer_id, row.review_lease_until = None, None
                again = self.my_read(db, user, row)
                assert again is not None  # held above, under the case lock
                mine = again
                mine.status, mine.version = "open", None
                mine.lease_until = utcnow() + dt.timedelta(seconds=self.core.settings(db).lease_s)
                db.execute(delete(Agreement).where(Agreement.case_id == case_id))
                self.core.log(db, user, row, "withdraw_submit", version=case_record.version_name(n), read=slot,
                         resubmission=False)
                return {**self.core.case_summary(db, row, reader=user.name), "withdrawn": True}

    # --- the reviewer's view ---------------------------------------------------------------------
    def reads_info(self, user: User, name: str) -> dict:
        """Reviewer or lead: the reads of a case (slot, reader, status, version), their agreement and fusion."""
        self.core.require_role(user, "reviewer")
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            users = {u.id: u.name for u in db.scalars(select(User))}
            reads = [{"slot": r.slot, "reader": users.get(r.user_id), "status": r.status, "version": r.version}
                     for r in self.reads(db, row)]
            agreement = self.agreement_of(db, row)
            return {"case": row.name, "state": row.state, "readers": self.readers_of(db, row), "reads": reads,
                    "agreement": agreement, "fusion": self.fusion_of(row)}

    def fusion_of(self, row: CaseRow) -> dict | None:
        """The fused proposal under review: method, version, per reader Dice, sensitivity, specificity."""
        record = case_record.load_case_record(self.core.folder(row))
        if row.state != workflow.SUBMITTED or not case_record.reads_under_review(record):
            return None
        ev = record.last(Action.SUBMITTED)
        found = recorded_figures(replace(record, events=(ev,))) if ev else None
        if ev is None or found is None:
            return None
        method, figures = found
        return {"method": str(method), "version": ev.version, "reads": list(ev.reads),
                "disagreement_voxels": (ev.fusion or {}).get("DisagreementVoxels"),
                "readers": [{"reader": f.reader, "mean_dice": f.mean_dice, "dice": f.dice,
                             "sensitivity": f.sensitivity, "specificity": f.specificity} for f in figures]}

    def agreement_of(self, db: Session, row: CaseRow) -> dict | None:
        """The stored agreement of the case's two reads: per label Dice, HD95 (mm), volumes (ml)."""
        rows = list(db.scalars(select(Agreement).where(Agreement.case_id == row.id).order_by(Agreement.label)))
        if not rows:
            return None
        labels = [{"label": r.label, "name": r.name, "dice": round(r.dice, 4),
                   "hd95_mm": None if r.hd95_mm is None else round(r.hd95_mm, 3),
                   "volume_a_ml": round(r.volume_a_ml, 4), "volume_b_ml": round(r.volume_b_ml, 4)} for r in rows]
        return {"a": rows[0].version_a, "b": rows[0].version_b, "labels": labels}

    def read_version(self, user: User, name: str, which: str) -> tuple[Case, int]:
        """Reviewer or lead: the case and version number of read ``1``.. (``fusion``, or a ``vNNN``)."""
        self.core.require_role(user, "reviewer")
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            version = self.resolve(db, row, which)
        return self.core.folder(row), case_record.version_number(version) or 0

    @staticmethod
    def version_hash(case: Case, number: int) -> str | None:
        """The voxel hash a version's creating event recorded."""
        made = case_record.version_event(case_record.load_case_record(case), case_record.version_name(number))
        return made.voxel_sha256 if made else None

    def resolve(self, db: Session, row: CaseRow, which: str) -> str:
        """The version ``which`` names: a read's slot (``1``.., ``A``/``B`` as before), ``fusion``, a ``vNNN``."""
        which = (which or "").strip()
        reads = {r.slot: r.version for r in self.reads(db, row) if r.status == "submitted"}
        slot = OLD_SLOTS.get(which.upper()) or (int(which) if which.isdigit() else None)
        if slot is not None:
            version = reads.get(slot)
            if not version:
                raise NotFound(f"case {row.name} has no submitted read {slot}")
            return version
        if which.lower() == "fusion":
            fused = self.fusion_of(row)
            if not fused:
                raise NotFound(f"case {row.name} has no fused proposal under review")
            return str(fused["version"])
        n = case_record.version_number(which)
        if n is None:
            raise Invalid(f"a read is its slot 1, 2, ..., 'fusion' or a version vNNN, not {which!r}")
        return case_record.version_name(n)

    def double_credit(self, db: Session, row: CaseRow) -> dict:
        """What approving a double-read case pays: an annotation item to each reader whose read is in."""
        ids = [r.user_id for r in self.reads(db, row) if r.status == "submitted"]
        for r in self.reads(db, row):
            r.status = "done"
        return {"readers": ids, "annotator_id": None}


def _compare(case: Case, record: CaseRecord) -> tuple[tuple[str, str], list[LabelAgreement]] | None:
    """Dice and HD95 per label of the two reads under review (``ctlabel.measure.compare``)."""
    names = case_record.reads_under_review(record)
    if len(names) < 2:
        return None
    va, vb = names[0], names[1]
    a = case.load_version(case_record.version_number(va) or 0)
    b = case.load_version(case_record.version_number(vb) or 0)
    return (va, vb), compare_masks(a, b, case.load_labels()).rows


def check_readers(readers: int, more_reads_below: float | None = None, fusion: str = "staple") -> None:
    """Invalid unless 1 <= readers <= MAX_READERS, the Dice threshold is in (0, 1] and the fusion is known."""
    if not isinstance(readers, int) or not 1 <= readers <= MAX_READERS:
        raise Invalid(f"a case is read by 1 to {MAX_READERS} annotators, not {readers}", options=("readers",))
    if more_reads_below is not None and not 0 < more_reads_below <= 1:
        raise Invalid(f"the Dice under which a case gets more reads is in (0, 1], not {more_reads_below}",
                      options=("more_reads_below",))
    if fusion not in {m.value for m in FusionMethod}:
        raise Invalid(f"no fusion {fusion!r}; it is staple or vote", options=("fusion",))


def set_readers(svc: ProjectCore, readers: int, *, more_reads_below: float | None = None,
                fusion: str | None = None) -> dict:
    """Set the project's readers per case; cases already claimed keep theirs.

    Parameters
    ----------
    svc : ProjectCore
        The project.
    readers : int
        1 (one annotator), or N >= 2 readers.
    more_reads_below : float, optional
        Adaptive reading: a case gets two reads, and its further ones (up to N) only when the
        lowest per-label Dice of those two is below this. None: every case gets N reads.
    fusion : str, optional
        ``staple`` or ``vote`` (default: unchanged).

    Returns
    -------
    dict
        The settings now: ``readers``, ``more_reads_below``, ``fusion``.
    """
    with svc.tx() as db:
        settings = svc.settings(db)
        check_readers(readers, more_reads_below, fusion or settings.fusion or "staple")
        settings.readers, settings.more_reads_below = readers, more_reads_below
        settings.fusion = fusion or settings.fusion or "staple"
        svc.log(db, None, None, "readers_set", readers=readers, more_reads_below=more_reads_below,
                fusion=settings.fusion)
        return {"readers": readers, "more_reads_below": more_reads_below, "fusion": settings.fusion}


def agreement_summary(svc: ProjectCore, db: Session) -> dict:
    """The project's double-read agreement: cases compared; per label mean Dice, mean HD95, cases."""
    rows = db.execute(select(Agreement.label, Agreement.name, func.count(Agreement.id), func.avg(Agreement.dice),
                             func.min(Agreement.dice), func.avg(Agreement.hd95_mm))
                      .group_by(Agreement.label, Agreement.name).order_by(Agreement.label)).all()
    cases = db.scalar(select(func.count(func.distinct(Agreement.case_id)))) or 0
    readers = svc.settings(db).readers or 1
    low = db.execute(select(CaseRow.name, func.min(Agreement.dice)).join(CaseRow, CaseRow.id == Agreement.case_id)
                     .group_by(CaseRow.name).order_by(func.min(Agreement.dice)).limit(5)).all()
    return {"readers": readers, "cases": cases,
            "labels": [{"label": lab, "name": nm, "cases": n, "mean_dice": float(md), "min_dice": float(mn),
                        "mean_hd95_mm": None if hd is None else float(hd)} for lab, nm, n, md, mn, hd in rows],
            "lowest": [{"case": c, "min_dice": float(d)} for c, d in low]}


__all__ = ["MAX_READERS", "OLD_SLOTS", "DoubleReads", "active_read", "agreement_summary", "check_readers",
           "multi_read", "require_no_reviewer", "set_readers"]

