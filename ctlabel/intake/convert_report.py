"""A conversion batch's settings (:class:`ConvertOptions`) and what it did (:class:`ConvertReport`).

Shared by the batch (``ctlabel.intake.convert``), its plan (``convert_plan``) and the image
replacement (``convert_image``), which therefore never import each other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ctlabel.dicom.stacks import Stack
from ctlabel.dicom.walk import ignored_text
from ctlabel.io.labels import LabelTable
from ctlabel.io.provenance import software
from ctlabel.volume import Volume


@dataclass
class ConvertOptions:
    """Settings of one batch.

    An existing case of the same source is always skipped (``skip_existing`` is kept for
    callers that set it). ``overwrite_image`` replaces the image of such a case instead,
    keeping its masks, only when the grid is the same.
    """

    pseudonymize_salt: str | None = None
    label_table: LabelTable | None = None
    skip_existing: bool = True
    irregular: str = "keep"
    overwrite_image: bool = False
    #: Write series descriptions as they are instead of cleaning them (docs/deidentification.md).
    keep_descriptions: bool = False


@dataclass
class ConvertReport:
    """What a batch did: converted cases, skipped items and failures, each with a reason.

    ``ignored`` lists the files left out as never DICOM by their name (LICENSE, README, ``*.txt``...):
    neither skipped series nor failures.
    """

    converted: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    #: False under ``--keep-descriptions``: descriptions were written as they are.
    descriptions_cleaned: bool = True

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def with_warnings(self) -> list[dict]:
        """Converted cases whose geometry carries a warning."""
        return [c for c in self.converted if c.get("warnings")]

    def to_dict(self) -> dict:
        return {
            "software": software(),
            "converted": self.converted,
            "skipped": self.skipped,
            "failed": self.failed,
            "ignored": self.ignored,
            "descriptions": "cleaned (Clean Descriptors Option)" if self.descriptions_cleaned
            else "kept as they are (--keep-descriptions): they may hold names",
            "summary": {"converted": len(self.converted), "with_warnings": len(self.with_warnings),
                        "skipped": len(self.skipped), "failed": len(self.failed), "ignored": len(self.ignored)},
        }

    def summary_text(self) -> str:
        lines = []
        for c in self.with_warnings:
            lines += [f"  WARNING {c['case']}: {w}" for w in c["warnings"]]
        for f in self.failed:
            lines.append(f"  FAILED {f['path']}: {f['reason']}")
        lines += [f"  SKIPPED {s['path']}: {s['reason']}" for s in self.skipped]
        lines += [f"  BURNED-IN TEXT {s['path']}: {s['burned_in_text']}"
                  for s in self.skipped if s.get("burned_in_text")]
        if self.ignored:
            lines.append(f"  {ignored_text(self.ignored)}")
        if not self.descriptions_cleaned:
            lines.append("  descriptions kept as they are (--keep-descriptions): they may hold names")
        head = (f"converted {len(self.converted)} ({len(self.with_warnings)} with warnings),"
                f" skipped {len(self.skipped)}, failed {len(self.failed)}")
        return "\n".join([head, *lines])


def report_entry(root: Path, stack: Stack, volume: Volume) -> dict:
    """The report's line of one converted case: where, its size and spacing, its warnings."""
    burned_in = getattr(volume.source, "burned_in", "")  # set by convert_stack (ctlabel.deid.DescribedSource)
    return {
        "case": str(root),
        "description": stack.description,
        "slices": volume.shape[0],
        "size": list(volume.shape),
        "spacing": [round(v, 4) for v in volume.spacing],
        "dtype": str(volume.array.dtype),
        "warnings": list(volume.warnings) + ([f"burned_in_text: {burned_in}"] if burned_in else []),
        "missing_slices": list(volume.missing_slices),
        "source_files": len(stack.files),
    }


__all__ = ["ConvertOptions", "ConvertReport", "report_entry"]
