"""The ctlabel error family.

Every error that ctlabel raises for bad input or a refused operation is a
:class:`CtlabelError`. Each subclass also derives from the builtin that fits it,
so callers that catch ``ValueError`` or ``OSError`` keep working. Messages name
the file (where there is one) and the reason.
"""

from __future__ import annotations

from os import PathLike


class CtlabelError(Exception):
    """Base class of every error raised by ctlabel on purpose.

    Parameters
    ----------
    reason : str
        What is wrong, in words a user understands.
    path : str or PathLike, optional
        The file or folder the error is about; it leads the message.
    """

    def __init__(self, reason: str, path: str | PathLike | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {reason}" if self.path else reason)

    def __reduce__(self):
        """Pickle as ``(reason, path)`` (a refusal raised in a worker process keeps both)."""
        return type(self), (self.reason, self.path)


class InputError(CtlabelError, ValueError):
    """An argument or an input file is not what ctlabel can work with."""


class DicomReadError(InputError):
    """A DICOM file cannot be read or decoded (truncated, junk, no pixels, ...)."""


class SeriesError(InputError):
    """The files of a series do not form a consistent image stack."""


class GeometryError(CtlabelError, ValueError):
    """A mask and an image do not share the same grid and affine."""


class ProvenanceError(CtlabelError, ValueError):
    """A provenance sidecar is missing, malformed or does not match its data."""


class CaseError(CtlabelError, OSError):
    """A case folder is missing parts or cannot be written."""


class StateError(CtlabelError, RuntimeError):
    """A review state transition that the workflow forbids."""


class LockError(CtlabelError, RuntimeError):
    """A case is locked for editing by somebody else."""
