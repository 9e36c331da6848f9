"""Exceptions raised by the constraint language, and the field paths its errors carry."""

from __future__ import annotations

import json
import math
import numbers
import re

_IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,63}')


class ConstraintError(Exception):
    """Base class of every error raised by :mod:`resem3d_constraints`."""


class _PathError(ConstraintError, ValueError):
    """An error at a field path of a structured input (a program, a message)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f'{self.path}: {self.reason}'

    def under(self, prefix: str) -> _PathError:
        """Return the same error with its path placed under ``prefix``."""
        return type(self)(join_path(prefix, self.path), self.reason)


class ProgramError(_PathError):
    """An invalid constraint program, or an invalid element of one.

    Attributes:
        path: Where the problem is, as a JSON-pointer-like field path such as
            ``stages[1].subgoal[0].a.of``; ``$`` names the whole input. Elements built
            directly in Python report paths relative to themselves (``max_m``); the parser
            prefixes them with the element's place in the program.
        reason: What is wrong, in one line.
    """


class RegionError(ConstraintError, ValueError):
    """A region that cannot be built (no points, non-finite points, bad axes, bad name)."""


class SceneError(ConstraintError, LookupError):
    """A scene state that lacks what a constraint needs (a region or an object pose)."""


class StatusError(ConstraintError, ValueError):
    """An invalid task status or residual report (unknown state, negative index, bad lengths)."""


class MessageConversionError(_PathError):
    """A ROS message that does not convert to a core type (or a core value that has no message).

    Raised by :mod:`resem3d_constraints.ros_conversions` for unknown kind constants, non-finite
    numbers, arrays of the wrong length and anything the core types reject.

    Attributes:
        path: Where the problem is, as a field path in the message, e.g.
            ``stages[0].subgoal[1].a.kind``; ``$`` names the whole message.
        reason: What is wrong, in one line.
    """


def join_path(prefix: str, path: str) -> str:
    """Join two field paths, e.g. ``stages[0]`` and ``a.of`` into ``stages[0].a.of``.

    ``$`` and the empty string stand for the root on either side.
    """
    if prefix in ('', '$'):
        return path or '$'
    if path in ('', '$'):
        return prefix
    if path.startswith('['):
        return prefix + path
    return f'{prefix}.{path}'


def key_path(key: object) -> str:
    r"""Render an object key as a path component that is safe to print on one line.

    Plain identifiers are used as they are (``timeout_s``); anything else becomes a quoted,
    ASCII-escaped and shortened index (``["odd key\\n"]``).
    """
    if not isinstance(key, str):
        return f'[<{type(key).__name__} key>]'
    if _IDENTIFIER.fullmatch(key):
        return key
    return f'[{quote(key)}]'


def describe(value: object) -> str:
    """Describe a value for an error message: short, one line, never the whole of a big value."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, numbers.Integral):
        return str(int(value)) if int(value).bit_length() <= 64 else 'a very large integer'
    if isinstance(value, float):
        if math.isnan(value):
            return 'NaN'
        if math.isinf(value):
            return 'Infinity' if value > 0 else '-Infinity'
        return repr(value)
    if isinstance(value, str):
        return f'the string {quote(value)}'
    if isinstance(value, dict):
        return 'an object'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return f'a {type(value).__name__}'


def quote(text: str) -> str:
    """Quote a string as ASCII-only JSON, shortened to 40 characters."""
    short = text[:40] + ('...' if len(text) > 40 else '')
    return json.dumps(short, ensure_ascii=True)
