"""The ctlabel error family.

Every error that ctlabel raises for bad input or a refused operation is a
:class:`CtlabelError`. Each subclass also derives from the builtin that fits it,
so callers that catch ``ValueError`` or ``OSError`` keep working. Messages name
the file (where there is one) and the reason.

The core never names a command-line flag: an error that a parameter of the call would
resolve names that parameter in ``options`` (e.g. ``("dicom",)``), and the command that
printed the message adds its flag (``ctlabel/cli/hints.py``).
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
    options : tuple of str, optional
        The settings whose change the remedy is about, by name (``"dicom"``, ``"include_unapproved"``,
        ``"token_env"``): a command line adds its flags whose destination has that name.
    """

    def __init__(self, reason: str, path: str | PathLike | None = None, *, options: tuple[str, ...] = ()) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.options = tuple(options)
        super().__init__(f"{self.path}: {reason}" if self.path else reason)

    def __reduce__(self):
        """Pickle as ``(reason, path)`` plus ``options`` (a refusal raised in a worker process keeps all)."""
        return _rebuild, (type(self), self.reason, self.path, self.options)


def _rebuild(cls: type[CtlabelError], reason: str, path: str | None, options: tuple[str, ...]) -> CtlabelError:
    """Unpickle a :class:`CtlabelError` (``__reduce__``)."""
    exc = cls(reason, path)
    exc.options = options
    return exc


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
