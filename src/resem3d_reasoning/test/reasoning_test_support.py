"""Shared helpers of the reasoning-engine tests: a synthetic observation and scripted clients.

A plain module with a unique name (not a conftest: the workspace's test directories share one
pytest run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace

import numpy as np

from resem3d_perception import Intrinsics
from resem3d_perception.testing import synthetic_part_frame
from resem3d_reasoning.client import MllmRequest, MllmResponse, parse_input_block
from resem3d_reasoning.grounding import Observation, observe_frame, system_region

import resem3d_constraints as rc


def synthetic_observation(scene: str | None = 'synthetic@0') -> Observation:
    """A small synthetic frame (block, cup, flask on a table) seen from 0.8 m above the table,
    looking straight down; the table top is the system region."""
    frame = synthetic_part_frame(160, 120)
    intrinsics = Intrinsics(160, 120, 150.0, 150.0, 79.5, 59.5)
    T_base_cam = np.eye(4)                           # optical z down, x along base x
    T_base_cam[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T_base_cam[:3, 3] = (0.5, 0.0, 0.8)
    full = SimpleNamespace(color=frame.color, depth_m=frame.depth_m, part_mask=frame.part_mask,
                           labels=frame.labels, intrinsics=intrinsics, T_base_cam=T_base_cam)
    table = rc.Region.from_points('table/top', np.array(
        [[x, y, 0.0] for x in (0.0, 1.0) for y in (-0.5, 0.5)]))
    return observe_frame(full, scene=scene,
                         system_regions={'table/top': system_region(table, np.eye(4))})


def response(text: str, *, oracle: bool = False) -> MllmResponse:
    """A response as a test backend gives it."""
    return MllmResponse(text=text, backend='oracle' if oracle else 'scripted',
                        model='resem3d-oracle' if oracle else 'scripted-model',
                        latency_s=0.001, from_oracle=oracle)


class ScriptedClient:
    """Answers each step from a script of reply texts (or callables of the request), in order;
    keeps every request it saw.

    Args:
        script: Step -> replies; the last one is repeated when the script runs out.
        fallback: Answers the steps without a script (e.g. an ``OracleClient``).
    """

    name = 'scripted'
    model = 'scripted-model'

    def __init__(self, script: dict[str, Sequence[str | Callable[[MllmRequest], str]]],
                 fallback: object | None = None) -> None:
        self.script = {step: list(replies) for step, replies in script.items()}
        self.fallback = fallback
        self.requests: list[MllmRequest] = []
        self._used: dict[str, int] = {}

    def complete(self, request: MllmRequest) -> MllmResponse:
        self.requests.append(request)
        replies = self.script.get(request.step)
        if not replies:
            if self.fallback is None:
                raise AssertionError(f'no scripted reply for step {request.step}')
            return self.fallback.complete(request)
        i = self._used.get(request.step, 0)
        self._used[request.step] = i + 1
        reply = replies[min(i, len(replies) - 1)]
        return response(reply(request) if callable(reply) else reply)

    def inputs(self, step: str) -> list[dict]:
        """The decoded INPUT blocks of the requests of ``step``, in order."""
        return [parse_input_block(r.user_text) for r in self.requests if r.step == step]


def visible_ground_truth(env, frame, name: str, count: int = 4000) -> np.ndarray:
    """The ground-truth surface points (base frame) of part ``name`` that the camera sees in
    ``frame``: sampled on the part, projected, kept where the frame's part label is the part's
    and the rendered depth matches (1 cm)."""
    obj = name.split('/', 1)[0]
    T = env.pose(obj)
    points = env.object_info(obj).part_points_obj(name, count) @ T[:3, :3].T + T[:3, 3]
    T_cam = frame.T_base_cam
    p_cam = (points - T_cam[:3, 3]) @ T_cam[:3, :3]
    k = frame.intrinsics
    z = np.maximum(p_cam[:, 2], 1e-6)
    u = np.rint(k.fx * p_cam[:, 0] / z + k.cx).astype(int)
    v = np.rint(k.fy * p_cam[:, 1] / z + k.cy).astype(int)
    inside = (p_cam[:, 2] > 0) & (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
    seen = np.zeros(len(points), dtype=bool)
    label = frame.labels.index(name)
    seen[inside] = ((frame.part_mask[v[inside], u[inside]] == label)
                    & (np.abs(frame.depth_m[v[inside], u[inside]] - p_cam[inside, 2]) < 0.01))
    return points[seen]
