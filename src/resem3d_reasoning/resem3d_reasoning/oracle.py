"""The oracle backend: answers reasoning requests from simulator ground truth (simulation only).

It stands in for a multimodal model in benchmarks of the execution stack and in offline demos,
and every answer it gives is labelled as oracle output (``MllmResponse.from_oracle``, backend
``oracle``, model ``resem3d-oracle``). It answers from the request alone, so the oracle HTTP
server can serve it too (:func:`answer`):

* the request's ``scene`` (``task@seed``) rebuilds the task's environment, whose camera is
  rendered once to get the ground-truth part-label image (cached per scene);
* marks and grid cells in the INPUT block are mapped to ground-truth part labels by looking up
  the label image at (and around) their anchor pixels;
* the task's reference program (``resem3d_sim/programs/<task>.json``) is split into subtasks
  at its gripper actions (approach and grasp; carry and release or pour); the plan lists them
  with the regions their stages use, and the program answer is their stages.

Step answers: ``plan`` (the reference subtasks), ``extract`` (the marks whose ground-truth
label is the region), ``refine_flow`` (positional ``rim`` for rims, mouths and openings,
positional ``top`` for tops, geometric for spouts, none otherwise), ``refine_grid`` (the cells
mostly covered by the region's ground truth), ``program`` (named ``oracle.<task>.<subtask>``).
Every other reply carries ``"notes"`` saying it is an oracle answer. A request it cannot answer (no
scene, unknown task, a region no mark shows, a subtask it did not plan) raises
:class:`~resem3d_reasoning.errors.OracleError` with the reason.

The label image is that of the scene's initial state: the oracle does not follow objects that
moved during a run.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import resem3d_constraints as rc

from .client import MllmRequest, MllmResponse, parse_input_block
from .errors import ConfigError, InputBlockError, OracleError

__all__ = ['ORACLE_MODEL', 'OracleClient', 'answer', 'oracle_factory', 'reference_subtasks',
           'scene_name']

ORACLE_MODEL = 'resem3d-oracle'
#: Scenes kept in memory (label image + reference program each).
DEFAULT_CACHE_SCENES = 8
#: Half-size [px] of the window around an anchor where labels are looked up.
LOOKUP_RADIUS_PX = 2
_SCENE = re.compile(r'^([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})@(\d{1,6})$')


def scene_name(task: str, seed: int) -> str:
    """The ``scene`` string of a request for ``task`` at ``seed``: ``task@seed``."""
    return f'{task}@{seed}'


# ----------------------------------------------------------------------------- reference plan

@dataclass(frozen=True)
class ReferenceSubtask:
    """A piece of a reference program: consecutive stages and the regions they use."""

    name: str
    stages: tuple[rc.Stage, ...]
    regions: tuple[str, ...]


def _used_regions(stages: Sequence[rc.Stage], order: Sequence[str]) -> tuple[str, ...]:
    """Regions the stages refer to (in ``order``), plus one region of each ``grasped`` object
    that owns none of them."""
    refs = {ref for stage in stages for _, ref in stage.references()}
    used = [r for r in order if r in refs]
    for obj in sorted(ref for ref in refs if '/' not in ref):
        if not any(r.split('/', 1)[0] == obj for r in used):
            used.append(next(r for r in order if r.split('/', 1)[0] == obj))
    return tuple(used)


def reference_subtasks(program: rc.ConstraintProgram) -> tuple[ReferenceSubtask, ...]:
    """Split a reference program into subtasks at its gripper actions.

    A subtask ends with a stage that has a gripper action once it holds a stage with a subgoal
    (so the leading "open the gripper" joins the approach); stages left after a release (an
    ``open``), such as a retreat, join the release's subtask.
    """
    chunks: list[list[rc.Stage]] = []
    current: list[rc.Stage] = []
    for stage in program.stages:
        current.append(stage)
        if stage.gripper is not None and any(s.subgoal for s in current):
            chunks.append(current)
            current = []
    if current:
        last = chunks[-1][-1] if chunks else None
        if last is not None and last.gripper is not None and last.gripper.action == 'open':
            chunks[-1].extend(current)
        else:
            chunks.append(current)
    out = []
    for i, chunk in enumerate(chunks):
        key = next((s.name for s in reversed(chunk) if s.gripper is not None), chunk[-1].name)
        out.append(ReferenceSubtask(f's{i + 1}_{key}'[:48], tuple(chunk),
                                    _used_regions(chunk, program.regions)))
    return tuple(out)


# ----------------------------------------------------------------------------- scene truth

@dataclass(frozen=True, eq=False)
class _SceneTruth:
    task: str
    seed: int
    part_mask: np.ndarray            # (H, W) int: index into labels
    labels: tuple[str, ...]
    subtasks: tuple[ReferenceSubtask, ...]

    def label_at(self, x: float, y: float) -> str | None:
        """Ground-truth part label at pixel ``(x, y)``, or the most common one in a small
        window around it; None for background."""
        h, w = self.part_mask.shape
        xi, yi = int(round(x)), int(round(y))
        if 0 <= xi < w and 0 <= yi < h and self.part_mask[yi, xi] > 0:
            return self.labels[int(self.part_mask[yi, xi])]
        r = LOOKUP_RADIUS_PX
        window = self.part_mask[max(0, yi - r):min(h, yi + r + 1),
                                max(0, xi - r):min(w, xi + r + 1)].ravel()
        window = window[window > 0]
        if window.size == 0:
            return None
        return self.labels[int(np.bincount(window).argmax())]

    def label_fraction(self, label: str, rect: Sequence[int]) -> float:
        """Fraction of the pixels of ``rect`` (x0, y0, x1, y1) that show ``label``."""
        if label not in self.labels:
            return 0.0
        h, w = self.part_mask.shape
        x0, y0, x1, y1 = (int(v) for v in rect)
        window = self.part_mask[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
        return float(np.mean(window == self.labels.index(label))) if window.size else 0.0

    def subtask(self, name: str) -> ReferenceSubtask:
        for subtask in self.subtasks:
            if subtask.name == name:
                return subtask
        raise OracleError(f'oracle: scene {self.task}@{self.seed} has no subtask {name!r}; '
                          f'its subtasks are {", ".join(s.name for s in self.subtasks)}')


class _SceneCache:
    """Ground truth per scene, built on first use (thread-safe, least recently used)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, _SceneTruth] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, scene: str | None) -> _SceneTruth:
        if not scene:
            raise OracleError('oracle: the request names no scene (task@seed); the oracle '
                              'answers simulated scenes only')
        match = _SCENE.fullmatch(scene)
        if match is None:
            raise OracleError(f'oracle: scene {scene[:80]!r} is not of the form task@seed')
        with self._lock:
            truth = self._items.get(scene)
            if truth is None:
                truth = _build_truth(match.group(1), int(match.group(2)))
                self._items[scene] = truth
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            self._items.move_to_end(scene)
            return truth


def _build_truth(task_name: str, seed: int) -> _SceneTruth:
    import resem3d_sim  # noqa: F401  (configures headless GL before mujoco is imported)
    from resem3d_sim.catalog import UnknownTaskError, get_task
    from resem3d_sim.tasks import TaskEnv

    try:
        task = get_task(task_name)
    except UnknownTaskError as error:
        raise OracleError(f'oracle: {error}') from None
    env = TaskEnv.build(task, seed)
    with env.camera() as camera:
        frame = camera.render()
    return _SceneTruth(task_name, seed, np.array(frame.part_mask), tuple(frame.labels),
                       reference_subtasks(task.reference_program()))


_CACHE = _SceneCache(DEFAULT_CACHE_SCENES)


# ----------------------------------------------------------------------------- answers

def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], step: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise OracleError(f'oracle: the {step} request has no valid INPUT.{name}')
    return value


def _names(items: Any) -> list[str]:
    """Region names from a list of names or of objects with a ``name``."""
    out = []
    for item in items or ():
        name = item.get('name') if isinstance(item, Mapping) else item
        if isinstance(name, str):
            out.append(name)
    return out


def _mark_labels(truth: _SceneTruth, marks: Any) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for mark in marks or ():
        if not isinstance(mark, Mapping) or not isinstance(mark.get('id'), int):
            continue
        anchor = mark.get('anchor_px')
        if isinstance(anchor, Sequence) and len(anchor) == 2:
            out[mark['id']] = truth.label_at(float(anchor[0]), float(anchor[1]))
    return out


def _note(truth: _SceneTruth) -> str:
    return f'oracle answer from simulator ground truth ({truth.task}@{truth.seed})'


def _plan(truth: _SceneTruth, data: Mapping[str, Any]) -> dict[str, Any]:
    system = set(_names(data.get('system_regions')))
    subtasks = []
    for sub in truth.subtasks:
        goal = 'Reference stages ' + ', '.join(s.name for s in sub.stages) + '.'
        subtasks.append({'name': sub.name, 'goal': goal[:240],
                         'regions': [r for r in sub.regions if r not in system]})
    return {'subtasks': subtasks, 'notes': _note(truth)}


def _extract(truth: _SceneTruth, data: Mapping[str, Any]) -> dict[str, Any]:
    regions = _names(_field(data, 'regions', list, 'extract'))
    labels = _mark_labels(truth, _field(data, 'marks', list, 'extract'))
    out = []
    for name in regions:
        ids = [i for i, label in labels.items() if label == name]
        if not ids:
            raise OracleError(f'oracle: no mark shows region {name!r} in scene '
                              f'{truth.task}@{truth.seed}')
        out.append({'name': name, 'marks': ids[:8]})
    return {'regions': out, 'notes': _note(truth)}


def flow_for(region: str) -> dict[str, str]:
    """The oracle's refinement flow for a region, from its part name."""
    part = region.split('/', 1)[-1]
    if any(word in part for word in ('rim', 'mouth', 'opening')):
        return {'flow': 'positional', 'feature': 'rim'}
    if part == 'top' or part.endswith('_top'):
        return {'flow': 'positional', 'feature': 'top'}
    if 'spout' in part:
        return {'flow': 'geometric'}
    return {'flow': 'none'}


def _refine_flow(truth: _SceneTruth, data: Mapping[str, Any]) -> dict[str, Any]:
    regions = _names(_field(data, 'regions', list, 'refine_flow'))
    return {'regions': [{'name': name, **flow_for(name)} for name in regions],
            'notes': _note(truth)}


def _refine_grid(truth: _SceneTruth, data: Mapping[str, Any]) -> dict[str, Any]:
    region = _field(data, 'region', str, 'refine_grid')
    cells = _field(data, 'cells', list, 'refine_grid')
    picked = []
    for cell in cells:
        if not isinstance(cell, Mapping) or not isinstance(cell.get('label'), int):
            continue
        rect, anchor = cell.get('rect_px'), cell.get('anchor_px')
        covered = isinstance(rect, Sequence) and len(rect) == 4 and \
            truth.label_fraction(region, rect) >= 0.1
        on_part = isinstance(anchor, Sequence) and len(anchor) == 2 and \
            truth.label_at(float(anchor[0]), float(anchor[1])) == region
        if covered or on_part:
            picked.append(cell['label'])
    if not picked:
        raise OracleError(f'oracle: no grid cell covers region {region!r} in scene '
                          f'{truth.task}@{truth.seed}')
    return {'cells': picked[:16], 'notes': _note(truth)}


def _program(truth: _SceneTruth, data: Mapping[str, Any]) -> dict[str, Any]:
    subtask = _field(data, 'subtask', Mapping, 'program')
    name = subtask.get('name')
    if not isinstance(name, str):
        raise OracleError('oracle: the program request has no INPUT.subtask.name')
    sub = truth.subtask(name)
    known = set(_names(data.get('regions'))) | set(_names(data.get('system_regions')))
    missing = [r for r in sub.regions if r not in known]
    if missing:
        raise OracleError(f'oracle: subtask {name} needs region {missing[0]!r}, which was not '
                          'grounded')
    program = rc.ConstraintProgram(name=f'oracle.{truth.task}.{name}'[:64],
                                   regions=sub.regions, stages=sub.stages)
    return rc.program_to_json(program)


_ANSWERS = {'plan': _plan, 'extract': _extract, 'refine_flow': _refine_flow,
            'refine_grid': _refine_grid, 'program': _program}


def answer(request: Any) -> str:
    """The oracle's reply text to a request (an ``MllmRequest`` or any object with
    ``user_text`` and ``scene``, and optionally ``input``, the decoded INPUT block, and
    ``step``).

    Raises:
        OracleError: For a request it cannot answer, naming why.
    """
    data = getattr(request, 'input', None)
    if not isinstance(data, Mapping):
        try:
            data = parse_input_block(getattr(request, 'user_text', ''))
        except InputBlockError as error:
            raise OracleError(f'oracle: {error}') from None
    step = data.get('step', getattr(request, 'step', None))
    handler = _ANSWERS.get(step) if isinstance(step, str) else None
    if handler is None:
        raise OracleError(f'oracle: cannot answer step {step!r}; it answers '
                          f'{", ".join(_ANSWERS)}')
    truth = _CACHE.get(getattr(request, 'scene', None))
    return json.dumps(handler(truth, data), separators=(',', ':'), ensure_ascii=True)


class OracleClient:
    """An in-process :class:`~resem3d_reasoning.client.MllmClient` answered by :func:`answer`.

    Every response has ``backend='oracle'``, ``model='resem3d-oracle'`` and
    ``from_oracle=True``.
    """

    name = 'oracle'
    model = ORACLE_MODEL

    def complete(self, request: MllmRequest) -> MllmResponse:
        """Answer ``request`` from simulator ground truth.

        Raises:
            OracleError: When the oracle cannot answer it.
        """
        start = time.perf_counter()
        text = answer(request)
        return MllmResponse(text=text, backend='oracle', model=ORACLE_MODEL,
                            latency_s=time.perf_counter() - start, prompt_tokens=None,
                            completion_tokens=None, cached=False, from_oracle=True)


def oracle_factory(options: Mapping[str, Any]) -> OracleClient:
    """The ``'oracle'`` backend's factory (registered lazily by :mod:`.backends`); it takes
    no options."""
    if options:
        raise ConfigError(f'backend oracle takes no options, got {", ".join(map(str, options))}')
    return OracleClient()
