"""``resem3d-sim``: look at the simulated tasks.

    resem3d-sim tasks                                  list the tasks and their instructions
    resem3d-sim view --task NAME [--seed N] --out FILE.png
                                                       render the task's scene from its camera
                                                       with the part masks coloured and labelled

Errors end with one line ``error: <reason>`` and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import TASKS, get_task
from .errors import SimError


def _tasks(_: argparse.Namespace) -> int:
    for task in TASKS.values():
        print(f'{task.name:34s} {task.scene:10s} {task.instruction}')
    return 0


def _view(args: argparse.Namespace) -> int:
    from .tasks import TaskEnv
    from .view import labelled_image

    out = Path(args.out)
    if out.suffix.lower() != '.png':
        raise SimError(f'--out must name a .png file, got {args.out!r}')
    env = TaskEnv.build(get_task(args.task), args.seed)
    with env.camera(shadows=True) as camera:      # a picture for people: shadows help
        frame = camera.render()
    labelled_image(frame).save(out)
    print(f'{out}: {env.task.name} (seed {args.seed}), {len(frame.labels) - 1} labelled parts')
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='resem3d-sim', description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('tasks', help='list the tasks').set_defaults(run=_tasks)
    view = sub.add_parser('view', help='render a task scene with labelled part masks')
    view.add_argument('--task', required=True)
    view.add_argument('--seed', type=int, default=0)
    view.add_argument('--out', required=True, help='PNG file to write')
    view.set_defaults(run=_view)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (SimError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
