"""Where a task stands, and the residuals of the active stage: small reports shared by nodes.

These are the core counterparts of ``resem3d_msgs/msg/TaskStatus`` and
``resem3d_msgs/msg/ConstraintResidual`` (see :mod:`resem3d_constraints.ros_conversions`).
Time stamps are integer nanoseconds (ROS time; simulated time in simulation), so that they
convert to ``builtin_interfaces/Time`` and back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import math
import numbers

import numpy as np

from .exceptions import describe, StatusError


class TaskState(str, enum.Enum):
    """The life of a task: idle, then planning and executing (in turns), then an outcome."""

    IDLE = 'idle'
    PLANNING = 'planning'
    EXECUTING = 'executing'
    SUCCEEDED = 'succeeded'
    FAILED = 'failed'

    @property
    def done(self) -> bool:
        """Whether the task has ended (succeeded or failed)."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


def _check_stamp(stamp_ns: object) -> int:
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, numbers.Integral) \
            or stamp_ns < 0:
        raise StatusError(f'stamp_ns: expected an integer >= 0 [ns], got {describe(stamp_ns)}')
    return int(stamp_ns)


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise StatusError(f'{name}: expected a string, got {describe(value)}')
    return value


@dataclass(frozen=True)
class TaskStatus:
    """The state of the task the reasoning is executing.

    Attributes:
        state: A :class:`TaskState` (its string value is accepted too).
        task_id: Id of the task (empty when idle).
        instruction: The instruction being executed.
        subtask: Name of the current subtask (empty if none).
        subtask_index: Index of the current subtask (0-based); -1 when there is none.
        subtask_count: Number of subtasks planned; 0 while unknown.
        stage: Name of the active stage of the current program (empty if none).
        message: Human-readable detail (e.g. why the task failed).
        stamp_ns: Time of the status [ns].

    Raises:
        StatusError: For an unknown state, a non-string text field, an index below -1 or not
            below a known count, a negative count or a bad stamp.
    """

    state: TaskState = TaskState.IDLE
    task_id: str = ''
    instruction: str = ''
    subtask: str = ''
    subtask_index: int = -1
    subtask_count: int = 0
    stage: str = ''
    message: str = ''
    stamp_ns: int = 0

    def __post_init__(self) -> None:
        try:
            state = TaskState(self.state)
        except ValueError:
            raise StatusError(f'state: unknown task state {describe(self.state)}; expected one '
                              'of ' + ', '.join(s.value for s in TaskState)) from None
        object.__setattr__(self, 'state', state)
        for name in ('task_id', 'instruction', 'subtask', 'stage', 'message'):
            _check_text(name, getattr(self, name))
        for name, low in (('subtask_index', -1), ('subtask_count', 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise StatusError(f'{name}: expected an integer >= {low}, got {describe(value)}')
            object.__setattr__(self, name, int(value))
        if self.subtask_count and self.subtask_index >= self.subtask_count:
            raise StatusError(f'subtask_index: {self.subtask_index} is not below subtask_count '
                              f'({self.subtask_count})')
        object.__setattr__(self, 'stamp_ns', _check_stamp(self.stamp_ns))


@dataclass(frozen=True)
class ConstraintResiduals:
    """Residuals of the active constraints of one stage at one instant.

    Attributes:
        stage: Name of the active stage.
        names: Name of each active constraint.
        residuals: Violation of each constraint beyond its bounds, in its unit (m, or rad for
            angles); 0 within bounds. A tuple of floats.
        tolerances: Violation below which each constraint counts as met, same units; >= 0.
        stamp_ns: Time of the measurement [ns].

    Raises:
        StatusError: If the three sequences differ in length, a number is not finite or a
            tolerance is negative.
    """

    stage: str
    names: tuple[str, ...]
    residuals: tuple[float, ...]
    tolerances: tuple[float, ...]
    stamp_ns: int = 0

    def __post_init__(self) -> None:
        _check_text('stage', self.stage)
        names = tuple(self.names)
        for i, name in enumerate(names):
            _check_text(f'names[{i}]', name)
        arrays = {}
        for field_name in ('residuals', 'tolerances'):
            try:
                array = np.asarray(getattr(self, field_name), dtype=float).reshape(-1)
            except (TypeError, ValueError):
                raise StatusError(f'{field_name}: expected numbers') from None
            bad = np.flatnonzero(~np.isfinite(array))
            if len(bad):
                raise StatusError(f'{field_name}[{bad[0]}]: expected a finite number, got '
                                  f'{describe(float(array[bad[0]]))}')
            arrays[field_name] = tuple(float(x) for x in array)
        if not len(names) == len(arrays['residuals']) == len(arrays['tolerances']):
            raise StatusError(f'names, residuals, tolerances: lengths differ ({len(names)}, '
                              f'{len(arrays["residuals"])}, {len(arrays["tolerances"])})')
        negative = [i for i, t in enumerate(arrays['tolerances']) if t < 0.0]
        if negative:
            raise StatusError(f'tolerances[{negative[0]}]: must be >= 0, got '
                              f'{arrays["tolerances"][negative[0]]:g}')
        object.__setattr__(self, 'names', names)
        object.__setattr__(self, 'residuals', arrays['residuals'])
        object.__setattr__(self, 'tolerances', arrays['tolerances'])
        object.__setattr__(self, 'stamp_ns', _check_stamp(self.stamp_ns))

    @property
    def met(self) -> tuple[bool, ...]:
        """Whether each constraint is met: ``|residual| <= tolerance``."""
        return tuple(abs(r) <= t for r, t in zip(self.residuals, self.tolerances))

    @property
    def max_ratio(self) -> float:
        """Largest ``|residual| / tolerance`` (inf for a violated zero tolerance; 0 if none)."""
        ratios = [abs(r) / t if t > 0.0 else (0.0 if r == 0.0 else math.inf)
                  for r, t in zip(self.residuals, self.tolerances)]
        return max(ratios, default=0.0)
