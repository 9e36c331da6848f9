"""Example constraint programs shipped with the package (JSON files in this folder)."""

from __future__ import annotations

from pathlib import Path

from ..parser import parse_program
from ..program import ConstraintProgram

EXAMPLES_DIR = Path(__file__).resolve().parent


def example_names() -> tuple[str, ...]:
    """Names of the shipped examples (file names without ``.json``), sorted."""
    return tuple(sorted(path.stem for path in EXAMPLES_DIR.glob('*.json')))


def example_path(name: str) -> Path:
    """Path of the example ``name`` (with or without the ``.json`` suffix).

    Raises:
        KeyError: If there is no such example.
    """
    stem = name[:-5] if name.endswith('.json') else name
    if stem not in example_names():
        raise KeyError(f'no example {name!r}; examples: {", ".join(example_names())}')
    return EXAMPLES_DIR / f'{stem}.json'


def load_example(name: str) -> ConstraintProgram:
    """Parse and return the example ``name``."""
    return parse_program(example_path(name).read_bytes())
