# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the node-core tests: a simulated task observed through perception's
``Observe`` response (rosbags messages, CDR round trip), and plain-Python program executors.

A plain module with a unique name (not a conftest: the workspace's test directories share one
pytest run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from resem3d_constraints.ros_conversions import RegionSet
from resem3d_constraints.ros_types import make_resem3d_typestore, RosbagsMessageTypes
from resem3d_perception.config import PerceptionConfig
from resem3d_perception.ros_conversions import observe_response_fields
from resem3d_perception.service import PerceptionService, ServiceConfig
from resem3d_reasoning.execution import ExecutionResult

TASK = 'lab_pour_beaker'
SCENE = f'{TASK}@0'
BASE_FRAME = 'panda_link0'
STAMP_NS = 5_000_000_000


@dataclass
class SimulatedTask:
    """A rendered task scene and the perception service that observed it."""

    env: object
    frame: object
    service: PerceptionService
    typestore: object
    types: RosbagsMessageTypes

    def response(self, stamp_ns: int = STAMP_NS, *, draw_marks: bool = True,
                 include_masks: bool = True):
        """An ``Observe`` response for the scene at ``stamp_ns``, after a CDR round trip."""
        f = self.frame
        self.service.set_intrinsics(_intrinsics(f))
        self.service.add_color(stamp_ns, f.color, 'camera_color_optical_frame')
        self.service.add_depth(stamp_ns, f.depth_m)
        self.service.add_labels(stamp_ns, f.part_mask, f.labels)
        perceived = self.service.observe(f.T_base_cam)
        fields = observe_response_fields(self.types, perceived,
                                         self.service.region_set(BASE_FRAME),
                                         base_frame=BASE_FRAME, draw_marks=draw_marks,
                                         include_masks=include_masks)
        msg = self.types.get('resem3d_msgs/srv/Observe_Response')(**fields)
        return cdr(self.typestore, msg)


def cdr(typestore, msg):
    """``msg`` serialised and read back (the bytes rclpy would send)."""
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    return typestore.deserialize_cdr(bytes(raw), msg.__msgtype__)


def _intrinsics(frame):
    from resem3d_perception import Intrinsics
    return Intrinsics.from_object(frame.intrinsics)


def simulated_task() -> SimulatedTask:
    """``lab_pour_beaker`` at seed 0: rendered once, perceived by a PerceptionService with the
    simulator's ground-truth segmenter; the table top is the system region."""
    import resem3d_sim  # noqa: F401  (headless GL before mujoco)
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    from resem3d_reasoning.planning import env_system_regions

    env = TaskEnv.build(get_task(TASK), 0)
    with env.camera() as camera:
        frame = camera.render()
    system = env_system_regions(env)
    regions = RegionSet('', 0, {name: pose.region for name, pose in system.items()},
                        {pose.region.frame: np.asarray(pose.T_base_obj)
                         for pose in system.values()},
                        dict.fromkeys(system, 'system'))
    service = PerceptionService(PerceptionConfig(), ServiceConfig(sync_labels=True,
                                                                  scene=SCENE),
                                system_regions=regions)
    typestore = make_resem3d_typestore()
    return SimulatedTask(env, frame, service, typestore, RosbagsMessageTypes(typestore))


@dataclass
class ScriptedExecutor:
    """Runs programs instantly with scripted results (default: success); records the runs.

    ``block`` makes every run wait until its task is cancelled (to test concurrency).
    """

    results: list[ExecutionResult] = field(default_factory=list)
    block: bool = False
    runs: list[tuple[str, int, str]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    def run(self, program, *, task_id, subtask_index, cancelled, feedback):
        self.runs.append((task_id, subtask_index, program.name))
        self.started.set()
        if self.block:
            cancelled.wait(10.0)
            return ExecutionResult(False, 'cancelled')
        from resem3d_constraints.status import ConstraintResiduals
        feedback(ConstraintResiduals(program.stages[-1].name, ('c',), (0.0,), (0.01,), 7))
        return self.results.pop(0) if self.results else ExecutionResult(True, 'done')
