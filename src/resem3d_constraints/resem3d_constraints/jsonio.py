"""Safe loading of untrusted JSON text: size, encoding and nesting checked before parsing."""

from __future__ import annotations

import gc
import json

import numpy as np

from .exceptions import ProgramError

#: Largest accepted input [bytes] (characters for ``str`` input): 10 MiB.
MAX_INPUT_BYTES = 10 * 1024 * 1024
#: Deepest accepted nesting of arrays and objects.
MAX_DEPTH = 32
#: Most arrays and objects accepted in one input: four times what the largest valid program
#: can hold (32 stages of 64 constraints and conditions, about 25 000), so that junk made of
#: millions of small containers is refused before Python builds them.
MAX_CONTAINERS = 100_000

_QUOTE, _BACKSLASH = 0x22, 0x5C
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord('['), ord('{')]] = 1
_STEP[[ord(']'), ord('}')]] = -1


def scan_nesting(data: bytes) -> tuple[int, int]:
    """Nesting depth and number of arrays and objects in JSON text, before parsing it.

    Brackets inside strings (delimited by quotes preceded by an even number of backslashes)
    are ignored. Runs in linear time without recursion or per-character Python code (a few
    numpy passes), so it is safe and fast on any input. Both numbers are exact for valid JSON.
    On malformed text an unmatched closing bracket is ignored (the depth never goes below
    zero), so the depth bounds that of any prefix a parser reads before failing.

    Args:
        data: UTF-8 encoded JSON text.

    Returns:
        ``(depth, containers)``: the maximum nesting depth of arrays and objects, and how many
        there are.
    """
    if data.count(b'[') + data.count(b'{') == 0:
        return 0, 0
    b = np.frombuffer(data, dtype=np.uint8)
    steps = _STEP[b]
    quotes = np.flatnonzero(b == _QUOTE)
    if quotes.size:
        backslash = b == _BACKSLASH
        if backslash.any():
            last_plain = np.maximum.accumulate(np.where(backslash, -1, np.arange(b.size)))
            before = quotes - 1
            run = np.where(before >= 0, before - last_plain[np.maximum(before, 0)], 0)
            quotes = quotes[run % 2 == 0]
        toggles = np.zeros(b.size, dtype=np.int8)
        toggles[quotes] = 1
        # Parity of the quotes so far (int8 wraps around, which keeps the parity).
        inside = np.cumsum(toggles, dtype=np.int8) & 1
        steps[inside.view(bool)] = 0
    # Depth clamped at zero: d_i = max(0, d_(i-1) + step_i) = S_i - min(0, S_1..S_i) for the
    # running sum S, so the clamped maximum is the largest rise of S above its prefix minimum.
    level = np.cumsum(steps, dtype=np.int32)
    floor = np.minimum(np.minimum.accumulate(level), 0)
    depth = int((level - floor).max())
    return depth, int(np.count_nonzero(steps == 1))


def load_json(data: str | bytes | bytearray) -> object:
    """Parse untrusted JSON text into Python values.

    Checks, in this order: size (at most 10 MiB), UTF-8 encoding (bytes; a leading BOM is
    dropped), non-empty, nesting depth (at most 32), number of arrays and objects (at most
    100 000), then JSON syntax. ``NaN`` and
    ``Infinity`` are parsed as floats and rejected later, with their field path, by the
    checks of the program elements.

    Raises:
        ProgramError: With path ``$`` and one of the reasons ``input larger than 10 MB``,
            ``input is not UTF-8 text``, ``empty input``, ``nesting deeper than 32 levels``,
            ``more than 100000 arrays and objects`` or
            ``not valid JSON (line L column C): ...``.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise ProgramError('$', 'input larger than 10 MB')
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError:
            raise ProgramError('$', 'input is not UTF-8 text') from None
    else:
        text = data
        raw = text.encode('utf-8', 'surrogatepass')
    if text.startswith('\ufeff'):
        text = text[1:]
    if not text.strip():
        raise ProgramError('$', 'empty input')
    depth, containers = scan_nesting(raw)
    if depth > MAX_DEPTH:
        raise ProgramError('$', f'nesting deeper than {MAX_DEPTH} levels')
    if containers > MAX_CONTAINERS:
        raise ProgramError('$', f'more than {MAX_CONTAINERS} arrays and objects')
    # JSON values hold no reference cycles: pausing the cycle collector keeps parsing
    # millions of small containers linear in time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ProgramError('$', f'not valid JSON (line {error.lineno} column {error.colno}): '
                                f'{error.msg}') from None
    except (ValueError, RecursionError) as error:
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise ProgramError('$', f'not valid JSON: {reason}') from None
    finally:
        if collecting:
            gc.enable()
