"""Command line: ``python -m resem3d_constraints validate FILE`` and ``... schema``.

``validate`` prints ``ok`` (exit 0) for a valid program, else exactly one line
``error: <field path>: <reason>`` on stderr (exit 2). It never prints a traceback.
"""

from __future__ import annotations

import re
import sys

from .exceptions import ProgramError
from .jsonio import MAX_INPUT_BYTES
from .parser import parse_program
from .schema import schema_text

USAGE = 'usage: python -m resem3d_constraints validate FILE  (FILE may be -)  |  schema'
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def _one_line(text: str) -> str:
    """Make ``text`` printable on one ASCII line (escape controls and non-ASCII)."""
    text = text.encode('ascii', 'backslashreplace').decode('ascii')
    return _CONTROL.sub(lambda m: f'\\x{ord(m.group()):02x}', text)


def _read(name: str) -> bytes:
    """Read at most one byte more than the input limit from a file or stdin (``-``)."""
    try:
        if name == '-':
            return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        with open(name, 'rb') as stream:
            return stream.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        raise ProgramError('$', f'cannot read {name}: {error.strerror or error}') from None


def validate(name: str) -> int:
    """Validate the program in file ``name``; print the outcome; return the exit status."""
    try:
        parse_program(_read(name))
    except ProgramError as error:
        print(_one_line(f'error: {error}'), file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 (RecursionError, MemoryError, anything else)
        print(_one_line(f'error: $: cannot validate ({type(error).__name__})'), file=sys.stderr)
        return 2
    print('ok')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 invalid input or usage)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args in (['-h'], ['--help']):
            print(USAGE)
            return 0
        if len(args) == 2 and args[0] == 'validate':
            return validate(args[1])
        if args == ['schema']:
            sys.stdout.write(schema_text())
            return 0
        print(USAGE, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 (the boundary: never a traceback)
        print(_one_line(f'error: $: {type(error).__name__}'), file=sys.stderr)
        return 2
