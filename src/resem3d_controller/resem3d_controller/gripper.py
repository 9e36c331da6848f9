"""Gripper commands, part of the controller's output (Franka ``move`` / ``grasp`` semantics)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .exceptions import InputError

MAX_WIDTH_M = 0.08     # Franka Hand stroke
MAX_FORCE_N = 70.0     # Franka Hand continuous grasp force
MAX_SPEED_M_S = 0.1    # Franka Hand finger speed
ACTIONS = ('open', 'close', 'grasp', 'move')


@dataclass(frozen=True)
class GripperCommand:
    """A command for a parallel gripper.

    Attributes:
        action: ``open`` (move to full width), ``close`` (move to zero width), ``grasp`` (close
            on an object with ``force_n``) or ``move`` (go to ``width_m``).
        width_m: Target width [m] (``grasp``: expected object width; ``move``: target).
        force_n: Grasp force [N] (``grasp`` only).
        speed_m_s: Finger speed [m/s].
    """

    action: str
    width_m: float = MAX_WIDTH_M
    force_n: float = 20.0
    speed_m_s: float = 0.05

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InputError(f'gripper action: unknown {self.action!r}, expected one of {ACTIONS}')
        for name, value, high in (('width_m', self.width_m, MAX_WIDTH_M),
                                  ('force_n', self.force_n, MAX_FORCE_N),
                                  ('speed_m_s', self.speed_m_s, MAX_SPEED_M_S)):
            finite = isinstance(value, (int, float)) and math.isfinite(value)
            if not (finite and 0 <= value <= high):
                raise InputError(f'gripper {name}: must be in [0, {high}], got {value!r}')

    @classmethod
    def from_stage_action(cls, action) -> 'GripperCommand':
        """Convert a :class:`resem3d_constraints.GripperAction` into a command."""
        width = {'open': MAX_WIDTH_M, 'close': 0.0}.get(action.action, action.width_m)
        return cls(action=action.action, width_m=width, force_n=action.force_n,
                   speed_m_s=action.speed_mps)
