"""Pre-labels of one label table, as the viewer runs them: what is offered, the targets, the run, the merge.

:class:`Prelabeler` holds the rules of a pre-label into labels an annotator is editing: the
structures a table offers, the target labels (found by name), the refusal when a target already
holds voxels (checked before the run and again before writing), the run on a copy, which voxels
it may write (background only) and the ``Method`` each written label records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ctlabel.io.labels import LabelTable
from ctlabel.prelabel.run import STRUCTURES, method_record, prelabel_volume, require_empty_targets, resolve_labels
from ctlabel.prelabel.run import structures_for as _structures_for


@dataclass(frozen=True)
class Prelabeler:
    """The pre-label of some structures into the labels of ``table``.

    Parameters
    ----------
    table : LabelTable
        The label table of the labels written.
    structures : sequence of str
        Among :attr:`STRUCTURES`; each needs a label of the table (found by name).

    Raises
    ------
    InputError
        A structure is unknown or has no label in the table (the message says what the table offers).
    """

    #: Every structure a pre-label knows, in order.
    STRUCTURES: ClassVar[tuple[str, ...]] = STRUCTURES

    table: LabelTable
    structures: Sequence[str]
    #: structure -> the label values it goes to (a lung pair: right, left).
    targets: dict[str, tuple[int, ...]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "structures", tuple(self.structures))
        object.__setattr__(self, "targets", resolve_labels(self.table, self.structures))

    @staticmethod
    def offered(table: LabelTable | None) -> tuple[str, ...]:
        """The structures that have a label in ``table`` (all of them when there is no table yet)."""
        return STRUCTURES if table is None else _structures_for(table)

    def require_empty(self, labels: np.ndarray) -> None:
        """Refuse when a target label of ``labels`` already holds a voxel (never over an annotator's work).

        Raises
        ------
        InputError
            The message names the labels that hold voxels.
        """
        require_empty_targets(np.asarray(labels), self.targets, self.table)

    def run(self, hu: np.ndarray, spacing, labels: np.ndarray, *, left_is_high_column: bool = True,
            progress: Callable[[float, str], None] | None = None) -> tuple[np.ndarray, dict[int, str]]:
        """Pre-label a copy of ``labels`` (only its background); ``labels`` is left as it is.

        Returns
        -------
        numpy.ndarray
            The copy, with the pre-labels in its background voxels.
        dict of int to str
            Label value -> structure, for the labels written.
        """
        out = np.array(labels)
        written = prelabel_volume(np.asarray(hu), spacing, self.targets, out,
                                  left_is_high_column=left_is_high_column, progress=progress)
        return out, written

    def changes(self, result: np.ndarray, current: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """The voxels of ``result`` to write into ``current``: where they differ and ``current`` is background.

        ``current`` may have been painted while the pre-label ran: its targets are checked again first.

        Returns
        -------
        tuple of numpy.ndarray
            The voxel indices (as :func:`numpy.nonzero` gives them).
        numpy.ndarray
            The label values to write there.

        Raises
        ------
        InputError
            A target label of ``current`` holds voxels now.
        """
        current = np.asarray(current)
        self.require_empty(current)
        indices = np.nonzero((result != current) & (current == 0))
        return indices, result[indices]

    @staticmethod
    def methods(written: dict[int, str]) -> dict[int, dict]:
        """Label value -> its ``Method`` record (automatic, the method's name and parameters)."""
        return {v: method_record(structure) for v, structure in written.items()}

    def describe(self, written: dict[int, str], voxels: int) -> str:
        """One line for the annotator: what was pre-labelled and how many voxels (or that nothing was)."""
        if not written:
            return "Pre-label found nothing to write"
        names = ", ".join(f"{self.table[v].name if v in self.table else v} ({written[v]})" for v in sorted(written))
        return f"Pre-labelled {names}: {voxels} voxel(s) — Ctrl+Z undoes it"


__all__ = ["Prelabeler"]
