# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""With oracle answers, grounded objects take the simulator's object frames.

The oracle's programs are the tasks' reference programs: their object-frame offsets and axes
(``beaker/body`` axis ``x``, a drawer's pull direction, a point fixed to a cabinet) mean what
they mean in the simulator's object frames, and would point elsewhere in a frame estimated from
the visible points. :func:`simulator_frames` is the reasoning engine's ``on_grounded`` hook
that re-expresses each grounded object's regions in its simulator frame before a program is
written and checked against them. The regions keep their perceived geometry; only the frames'
definition comes from the ground truth, like the answers themselves. A model's answers
(``openai``, or ``replay`` not from the oracle) are written against the estimated frames and
are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .grounding import GroundingStore

__all__ = ['simulator_frames']


def simulator_frames(env: Any) -> Callable[[GroundingStore, Any], None]:
    """The hook: with oracle answers (``stats.from_oracle``), give every object grounded since
    the last call that the simulated task environment ``env`` (``resem3d_sim.tasks.TaskEnv``)
    has its pose there (now) as its frame. An object it gave a frame before keeps it (it may
    have moved since: its regions stay in the frame they were grounded in) until it is
    grounded again.

    Returns:
        ``on_grounded(store, stats)`` for :class:`~resem3d_reasoning.engine.ReasoningEngine`.
    """
    given: dict[str, np.ndarray] = {}       # object -> the frame array this hook set

    def on_grounded(store: GroundingStore, stats: Any) -> None:
        if not stats.from_oracle:
            return
        for obj in list(store.frames):
            if obj not in env.objects or store.frames[obj] is given.get(obj):
                continue
            store.set_frame(obj, env.pose(obj))
            given[obj] = store.frames[obj]

    return on_grounded
