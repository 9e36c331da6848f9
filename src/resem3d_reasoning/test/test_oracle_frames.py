# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""simulator_frames: with oracle answers, grounded objects take the simulator's frames (their
regions keep their geometry); a model's answers keep the estimated frames."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.spatial.transform import Rotation

import resem3d_constraints as rc
from resem3d_reasoning.grounding import GroundedRegion, GroundingStore
from resem3d_reasoning.oracle_frames import simulator_frames


def _pose(yaw_rad: float, xyz) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler('z', yaw_rad).as_matrix()
    T[:3, 3] = xyz
    return T


class _Env:
    """A simulated task environment's object poses (what the hook reads)."""

    def __init__(self, poses):
        self.poses = poses
        self.objects = list(poses)

    def pose(self, obj):
        return self.poses[obj].copy()


def _store_with_drawer_handle(T_estimated):  # noqa: N803
    """A store with ``drawer/handle`` grounded in an estimated frame (a bar 12 cm long)."""
    points_base = np.column_stack([np.linspace(0.4, 0.52, 13), np.full(13, 0.2),
                                   np.full(13, 0.3)])
    points_obj = (points_base - T_estimated[:3, 3]) @ T_estimated[:3, :3]
    region = rc.Region.from_points('drawer/handle', points_obj, frame='drawer')
    store = GroundingStore()
    store.frames['drawer'] = T_estimated.copy()
    store.add(GroundedRegion('drawer/handle', region, T_estimated.copy(), (3,), 'none', None, (),
                             points_base.mean(axis=0), 'grasp'))
    return store, points_base


def _region_base(store, name):
    grounded = store.regions[name]
    T = grounded.T_base_obj
    return grounded.region.points_obj @ T[:3, :3].T + T[:3, 3]


def test_oracle_answers_take_the_simulator_frame_and_keep_the_geometry():
    T_estimated, T_sim = _pose(1.4, (0.45, 0.22, 0.25)), _pose(-0.2, (0.46, 0.18, 0.24))
    store, points_base = _store_with_drawer_handle(T_estimated)
    hook = simulator_frames(_Env({'drawer': T_sim, 'cabinet': np.eye(4)}))
    hook(store, SimpleNamespace(from_oracle=True))
    np.testing.assert_allclose(store.frames['drawer'], T_sim, atol=1e-12)
    np.testing.assert_allclose(store.regions['drawer/handle'].T_base_obj, T_sim, atol=1e-12)
    np.testing.assert_allclose(_region_base(store, 'drawer/handle'), points_base, atol=1e-9)
    assert 'cabinet' not in store.frames                 # only grounded objects


def test_a_frame_given_once_is_kept_until_the_object_is_grounded_again():
    T_estimated, T_sim = _pose(1.4, (0.45, 0.22, 0.25)), _pose(-0.2, (0.46, 0.18, 0.24))
    store, _ = _store_with_drawer_handle(T_estimated)
    env = _Env({'drawer': T_sim})
    hook = simulator_frames(env)
    hook(store, SimpleNamespace(from_oracle=True))
    env.poses['drawer'] = _pose(-0.2, (0.46, 0.30, 0.24))     # pulled out 12 cm since
    hook(store, SimpleNamespace(from_oracle=True))            # the next subtask's grounding
    np.testing.assert_allclose(store.frames['drawer'], T_sim, atol=1e-12)
    store.forget_objects(['drawer'])                          # grounded again, estimated
    store2, _ = _store_with_drawer_handle(T_estimated)
    store.frames.update(store2.frames)
    store.regions.update(store2.regions)
    hook(store, SimpleNamespace(from_oracle=True))
    np.testing.assert_allclose(store.frames['drawer'], env.poses['drawer'], atol=1e-12)


def test_a_models_answers_keep_the_estimated_frames():
    T_estimated = _pose(1.4, (0.45, 0.22, 0.25))
    store, _ = _store_with_drawer_handle(T_estimated)
    simulator_frames(_Env({'drawer': np.eye(4)}))(store, SimpleNamespace(from_oracle=False))
    np.testing.assert_array_equal(store.frames['drawer'], T_estimated)
