# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Where an object moved out of ICP's reach may be: a grid search of horizontal shifts.

Objects stand on a support, so an object the tracker lost is looked for at the same height and
yaw: its model, placed at the last pose, is shifted on a grid around it and each shift scored
by the fraction of model points with a cloud point within 1 cm (among the cloud's points at the
model's heights above its support), less, with the depth image, the fraction the camera sees through
(:func:`~.depth_checks.see_through_mask`). The best cells are refined at half the step.
The caller (:meth:`~.scene_tracker.SceneTracker.redetect`) lets ICP confirm each shift.

Written here rather than with a global registration (open3d's RANSAC/FGH over FPFH features):
the models are partial views of smooth, symmetric objects (a plate's disc, a beaker's wall),
whose features do not match reliably, and the support constraint leaves a 2-D search that a
k-d tree scores in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial import cKDTree

from .cloud import Cloud
from .depth_checks import see_through_mask

if TYPE_CHECKING:
    from .scene_tracker import SceneTrackingConfig

__all__ = ['search_offsets']

# Distance within which a cloud point explains a model point in the grid's score [m].
_NEAR_M = 0.01
# Cells tried at most, and the least distance between two tried cells [m].
_MAX_CELLS = 3
_CELL_SEPARATION_M = 0.04
# Cloud points this far above the model's lowest point are searched among (the support's are
# not), and at least those of its top this deep [m].
_SUPPORT_M = 0.005
_TOP_M = 0.003
# The polishing window: offsets of -2..2 steps in x and y.
_POLISH = np.array([(x, y) for x in range(-2, 3) for y in range(-2, 3)], dtype=float)


def search_offsets(points_base: np.ndarray, cloud: Cloud, depth: Any,
                   config: SceneTrackingConfig) -> Iterator[np.ndarray]:
    """Horizontal shifts (2,) [m] of the model to try, best first.

    The grid covers ``redetect_radius_m`` around the model at ``2 redetect_step_m``; up to
    three of the twelve best cells (4 cm apart, scoring at least 0.05 with the depth image,
    0.2 without) are refined at ``redetect_step_m / 2``: among the offsets scoring within
    ``redetect_refine_slack`` of the window's best, the one with the least mean distance
    (capped at 1 cm) centres the model on the points, and the window re-centres there up to
    ``redetect_refine_rounds`` times (a flat plate moved 9 cm scored its best coarse cell
    3 cm short, and the true offset lay outside that cell's window); with the depth image the
    same choice is then made on lattices of half and a quarter of that step, and that offset is
    proposed first, then the cell's refined one. Shifts under 1 cm (where the tracker already
    failed) and offsets proposed already are skipped.

    Args:
        points_base: (N, 3) the model's points at its last pose (base frame) [m].
        cloud: The frame's cloud (base frame).
        depth: The frame's depth image (:class:`~.depth_checks.DepthImage`) or None.
        config: The ``redetect_*`` and ``free_space_margin_m`` parameters.
    """
    c = config
    P = points_base
    centre = P[:, :2].mean(axis=0)
    reach = c.redetect_radius_m + float(np.max(np.linalg.norm(P[:, :2] - centre, axis=1)))
    # The model's heights, less the support it stands on (its lowest 5 mm), but at least its
    # top 3 mm: a plate's model (its top surface, 3.6 mm thick) lay wholly below the band
    # otherwise, and scored on depth noise alone.
    bottom_m = min(float(P[:, 2].min()) + _SUPPORT_M, float(P[:, 2].max()) - _TOP_M)
    scene = cloud.points_in_box(np.array([centre[0] - reach, centre[1] - reach, bottom_m]),
                                np.array([centre[0] + reach, centre[1] + reach,
                                          P[:, 2].max() + 0.01]))
    if len(scene) < 30:
        return
    tree = cKDTree(scene)

    def shifted(offsets: np.ndarray) -> np.ndarray:
        moved = P[None, :, :].repeat(len(offsets), axis=0)
        moved[:, :, :2] += offsets[:, None, :]
        return moved.reshape(-1, 3)

    def scores(offsets: np.ndarray) -> np.ndarray:
        points = shifted(offsets)
        distances, _ = tree.query(points, distance_upper_bound=_NEAR_M)
        near = np.isfinite(distances).reshape(len(offsets), -1).mean(axis=1)
        if depth is None:
            return near
        through = see_through_mask(points, depth, c.free_space_margin_m)
        return near - through.reshape(len(offsets), -1).mean(axis=1)

    def mean_distances(offsets: np.ndarray) -> np.ndarray:
        # Within the coarse winner's flat top of scores, the mean distance (capped at 1 cm)
        # centres the model on the points.
        distances, _ = tree.query(shifted(offsets), distance_upper_bound=_NEAR_M)
        return np.minimum(distances, _NEAR_M).reshape(len(offsets), -1).mean(axis=1)

    coarse = 2.0 * c.redetect_step_m
    steps = np.arange(-c.redetect_radius_m, c.redetect_radius_m + 1e-9, coarse)
    grid = np.array([(x, y) for x in steps for y in steps
                     if x * x + y * y <= c.redetect_radius_m ** 2])
    fine_step = c.redetect_step_m / 2.0
    fine_steps = np.arange(-coarse, coarse + 1e-9, fine_step)
    fine = np.array([(x, y) for x in fine_steps for y in fine_steps])

    def refine(offset: np.ndarray) -> np.ndarray:
        # Without the depth image the scores are flat on the model's support: mean distance
        # only, one round.
        for _ in range(c.redetect_refine_rounds):
            local = offset + fine
            if depth is not None:
                local_scores = scores(local)
                local = local[local_scores >= local_scores.max() - c.redetect_refine_slack]
            moved = local[int(np.argmin(mean_distances(local)))]
            if depth is None:
                return moved
            if np.linalg.norm(moved - offset) < 0.5 * fine_step:
                return moved
            offset = moved
        return offset

    def polish(offset: np.ndarray) -> np.ndarray:
        # The same choice on lattices of half and a quarter of the step around the offset:
        # one model point is 0.7 % of the score, more than the slack, so a lattice that
        # misses the true offset by 2 mm can leave every offset of the window short of the
        # best score, and the coarse cell itself stands (a flask moved 6.3 cm under a
        # pouring beaker: kept 0.6 cm off, where ICP then slid it 1.8 cm off).
        for step in (fine_step / 2.0, fine_step / 4.0):
            local = offset + step * _POLISH
            local_scores = scores(local)
            local = local[local_scores >= local_scores.max() - c.redetect_refine_slack]
            offset = local[int(np.argmin(mean_distances(local)))]
        return offset

    score = scores(grid)
    tried: list[np.ndarray] = []
    proposed: list[np.ndarray] = []     # (cells often refine to the same offset: ICP from
    #                                     there gives the same answer, it is proposed once)
    for index in np.argsort(-score)[:12]:
        # With the see-through penalty a cell under the arm scores low but still ranks first
        # where the object is; without it, 0.2 keeps empty cells out.
        if score[index] < (0.2 if depth is None else 0.05) or len(tried) >= _MAX_CELLS:
            break
        if any(np.linalg.norm(grid[index] - t) < _CELL_SEPARATION_M for t in tried):
            continue
        tried.append(grid[index])
        best = refine(grid[index])
        polished = best if depth is None else polish(best)
        # The polished offset first; if ICP does not confirm it, the refined one (where the
        # score is flat the mean distance wanders along the flat direction: a drawer pushed
        # in 12.8 cm, polished 3 mm along its front, where ICP's fit fell short of its
        # confidence; from the refined offset it converged 2 mm from the truth).
        for offset in (polished, best):
            if np.linalg.norm(offset) < 0.01 or \
                    any(np.linalg.norm(offset - p) < 1e-4 for p in proposed):
                continue
            proposed.append(offset)
            yield offset
