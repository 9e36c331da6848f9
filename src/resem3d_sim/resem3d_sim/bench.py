"""Benchmark of the simulation: real-time factor and the tasks' reference success.

    python -m resem3d_sim.bench --json [--tasks all|NAME,...] [--seeds 10] [--jobs 2]

* ``rtf``: simulated seconds per wall second of a closed-loop run (the first task, seed 0):
  physics at 1 kHz, the project's controller in the loop at 1 kHz, object poses at 15 Hz and the
  camera rendering colour + depth + part masks at 15 Hz (640x480) in a second process
  (:class:`~resem3d_sim.render_worker.RenderWorker`, beside the physics). Measured before the
  task sweep. ``rtf_camera_in_loop``: the same run with the camera rendered inside the loop,
  measured right after it (the peer to compare with); ``camera_frames`` and
  ``camera_frames_skipped`` (rendering fell a whole period behind; a frame that is only late
  is rendered as soon as the render process is free).
* ``physics_step_us_p50``: one 1 ms ``World.step`` (servo + MuJoCo), in that run;
  ``render_ms_p50``: one camera frame, in the render process; ``controller_step_us_p50``
  likewise.
* ``tasks``: the number of tasks; ``reference``: per task, the success rate of its reference
  program over ``--seeds`` seeds, with the failure reasons.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .catalog import TASKS, get_task
from .errors import SimError
from .reference import ReferenceRun, run_reference

CAMERA_HZ = 15.0


def _run(args: tuple[str, int]) -> tuple[str, int, bool, str, float, float]:
    task, seed = args
    run = run_reference(task, seed)
    return task, seed, run.success, run.reason, run.sim_s, run.wall_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--tasks', default='all')
    parser.add_argument('--seeds', type=int, default=10)
    parser.add_argument('--jobs', type=int, default=2)
    args = parser.parse_args(argv)
    try:
        names = list(TASKS) if args.tasks == 'all' else [
            get_task(n.strip()).name for n in args.tasks.split(',')]
        if args.seeds < 1 or args.jobs < 1:
            raise SimError('--seeds and --jobs must be >= 1')
    except SimError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2

    timed: ReferenceRun = run_reference(names[0], 0, render_hz=CAMERA_HZ, async_render=True)
    in_loop: ReferenceRun = run_reference(names[0], 0, render_hz=CAMERA_HZ, async_render=False)
    jobs = [(name, seed) for name in names for seed in range(args.seeds)]
    wall = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_run, jobs))
    reference = {}
    for name in names:
        mine = [r for r in results if r[0] == name]
        reference[name] = {
            'success_rate': sum(r[2] for r in mine) / len(mine),
            'seeds': len(mine),
            'mean_sim_s': float(np.mean([r[4] for r in mine])),
            'failures': {str(r[1]): r[3] for r in mine if not r[2]},
        }
    result = {
        'rtf': timed.sim_s / timed.wall_s,
        'rtf_run': {'task': timed.task, 'seed': 0, 'sim_s': timed.sim_s, 'wall_s': timed.wall_s,
                    'success': timed.success},
        'rtf_camera_in_loop': in_loop.sim_s / in_loop.wall_s,
        'camera_frames': timed.frames,
        'camera_frames_skipped': timed.frames_skipped,
        'physics_step_us_p50': float(np.percentile(timed.physics_us, 50)),
        'controller_step_us_p50': float(np.percentile(timed.step_us, 50)),
        'controller_step_us_p99': float(np.percentile(timed.step_us, 99)),
        'render_ms_p50': float(np.percentile(timed.render_ms, 50)),
        'render_ms_p50_in_loop': float(np.percentile(in_loop.render_ms, 50)),
        'render_hz': CAMERA_HZ,
        'tasks': len(TASKS),
        'reference': reference,
        'sweep_wall_s': time.perf_counter() - wall,
    }
    result['targets_met'] = {
        'rtf>=1.0': result['rtf'] >= 1.0,
        'tasks==12': result['tasks'] == 12,
        'every reference success>=0.9': all(r['success_rate'] >= 0.9
                                            for r in reference.values()),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f'{key:24s} {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
