"""Every task by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .errors import SimInputError
from .household_tasks import HOUSEHOLD_TASKS
from .lab_tasks import LAB_TASKS
from .tasks import TaskSpec


class UnknownTaskError(SimInputError, LookupError):
    """No task has the requested name."""


TASKS: Mapping[str, TaskSpec] = MappingProxyType(
    {task.name: task for task in HOUSEHOLD_TASKS + LAB_TASKS})


def get_task(name: str) -> TaskSpec:
    """The task called ``name``.

    Raises:
        UnknownTaskError: naming the known tasks.
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f'unknown task {name!r}; known: {", ".join(TASKS)}') from None
