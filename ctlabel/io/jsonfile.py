"""Reading a JSON file of a case (``case.json``, ``ct.json``, mask sidecars) with bounds and types.

A case folder may have been damaged or edited by hand. Every JSON file ctlabel reads back
goes through :func:`read_json_object`: its size is capped before it is read, nesting deeper
than :data:`MAX_DEPTH` is refused (``json.loads`` itself would raise ``RecursionError``), and
the top level must be an object. :func:`require_types` then checks the fields a reader uses,
so that a wrong type is a :class:`~ctlabel.errors.CtlabelError` naming the file and the field,
never an ``AttributeError`` or ``TypeError`` further on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from ctlabel.errors import CtlabelError, ProvenanceError

#: The largest JSON file of a case that is read (a record of 100,000 events is about 50 MB).
MAX_BYTES = 256 * 1024 * 1024
#: The deepest nesting of objects and lists accepted (ctlabel writes at most 6 levels).
MAX_DEPTH = 64

#: JSON types by name, for messages.
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number",
               bool: "true or false", type(None): "null"}


def depth_of(value) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def parse_json_object(text: str | bytes, what: str, path=None, *, error: type[CtlabelError] = ProvenanceError,
                      max_depth: int = MAX_DEPTH) -> dict:
    """Parse JSON text that must hold an object nested at most ``max_depth`` deep.

    Parameters
    ----------
    text : str or bytes
        The JSON text (bytes are read as UTF-8).
    what : str
        What the file is, for messages (``"the case record"``).
    path : path, optional
        The file, named by the error.
    error : type
        The :class:`~ctlabel.errors.CtlabelError` subclass raised.
    max_depth : int
        The deepest nesting accepted.

    Returns
    -------
    dict

    Raises
    ------
    CtlabelError
        Of type ``error``: not JSON, nested too deeply, or not an object.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise error(f"{what} nests lists or objects deeper than {max_depth} levels", path) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not valid JSON ({exc})", path) from None
    if depth_of(value) > max_depth:
        raise error(f"{what} nests lists or objects deeper than {max_depth} levels", path)
    if not isinstance(value, dict):
        raise error(f"{what} is {type_name(value)}, not a JSON object", path)
    return value


def read_json_object(path: str | os.PathLike, what: str, *, error: type[CtlabelError] = ProvenanceError,
                     max_bytes: int = MAX_BYTES) -> dict:
    """Read a JSON file that must hold an object: size capped, depth bounded.

    Parameters
    ----------
    path : str or PathLike
        The file.
    what : str
        What the file is, for messages.
    error : type
        The :class:`~ctlabel.errors.CtlabelError` subclass raised.
    max_bytes : int
        Larger files are refused before they are read.

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError
        The file does not exist (the caller says what that means).
    CtlabelError
        Of type ``error``: unreadable, too large, not JSON, nested too deeply, not an object.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise error(f"{what} holds {size} bytes, more than the {max_bytes} accepted", path)
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{what} cannot be read ({exc.strerror or exc})", path) from None
    if len(data) > max_bytes:
        raise error(f"{what} holds more than the {max_bytes} bytes accepted", path)
    return parse_json_object(data, what, path, error=error)


def type_name(value) -> str:
    """``'a list'``, ``'a string'``... for a parsed JSON value."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def require_types(obj: Mapping, fields: Mapping[str, tuple[type, ...]], where: str, path=None, *,
                  error: type[CtlabelError] = ProvenanceError) -> None:
    """Check that each field of ``obj`` present in ``fields`` has one of the types given.

    ``bool`` is not accepted where a number is asked for. ``where`` names the object in
    the message (``"event 3"``).

    Raises
    ------
    CtlabelError
        Of type ``error``, naming ``where``, the field and the type found.
    """
    for key, types in fields.items():
        if key not in obj:
            continue
        value = obj[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            wanted = " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in types))
            raise error(f"{where}: {key} is {type_name(value)}, not {wanted}", path)


__all__ = ["MAX_BYTES", "MAX_DEPTH", "depth_of", "parse_json_object", "read_json_object", "require_types",
           "type_name"]
