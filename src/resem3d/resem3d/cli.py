"""``resem3d``: the system's command line.

    resem3d plan --task NAME [--seed N] [--instruction TEXT] [--mllm {oracle,openai,replay}]
                 [--base-url URL] [--model M] [--transcript DIR] [--config DIR] [--json]
    resem3d run --task NAME [--seed N] [--instruction TEXT] [--mllm {oracle,openai,replay}]
                [--base-url URL] [--model M] [--transcript DIR] [--segmenter {sim,sam}]
                [--disturb SPEC] [--out DIR] [--config DIR] [--json]
    resem3d bench [--tasks all|NAME,...] [--seeds K] [--disturb] [--mllm oracle] [--jobs N]
                  [--out DIR] [--json]
    resem3d tasks [--json]

``plan`` renders the task's scene, perceives it and reasons about it with the chosen model
client, then prints the plan and the constraint programs (``--json``: one JSON object on
stdout). ``run`` executes a task in closed loop in the simulator (:mod:`resem3d.run`) and
writes its run directory; it exits 1 with one line ``failed: <step>: <reason>`` when the task
fails. ``bench`` runs tasks x seeds in parallel (:mod:`resem3d.bench`). ``tasks`` lists the
simulated tasks and their instructions.

Every failure ends with exactly one line on stderr, ``error: <step>: <reason>``, and a non-zero
exit status: 2 when the command cannot do what was asked (arguments, unknown task, bad seed,
configuration), 1 when it ran and failed, 130 when interrupted. Logging is off unless ``-v``
(warnings) or ``-vv`` (info) is given; ``--debug`` lets unexpected errors show their traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from .plan import BACKENDS, CommandError, PlanOptions

__all__ = ['main']


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors go through the one-line error funnel."""

    def error(self, message: str) -> NoReturn:
        raise CommandError('usage', f'{message} (see {self.prog} --help)', 2)


def _plan(args: argparse.Namespace) -> int:
    from .plan import run, summary
    report = run(PlanOptions(task=args.task, seed=args.seed, instruction=args.instruction,
                             mllm=args.mllm, base_url=args.base_url, model=args.model,
                             transcript=args.transcript, config=args.config))
    print(json.dumps(report, indent=2) if args.json else summary(report))
    return 0


def _run(args: argparse.Namespace) -> int:
    from .run import RunOptions, main_run
    return main_run(RunOptions(task=args.task, seed=args.seed, instruction=args.instruction,
                               mllm=args.mllm, base_url=args.base_url, model=args.model,
                               transcript=args.transcript, segmenter=args.segmenter,
                               disturb=args.disturb, out=args.out, config=args.config),
                    args.json)


def _bench(args: argparse.Namespace) -> int:
    from .bench import BenchOptions, main_bench
    return main_bench(BenchOptions(tasks=args.tasks, seeds=args.seeds, disturb=args.disturb,
                                   mllm=args.mllm, jobs=args.jobs, out=args.out,
                                   config=args.config), args.json,
                      json_out=args.json_out, readme=args.readme)


def _tasks(args: argparse.Namespace) -> int:
    from resem3d_sim.catalog import TASKS
    if args.json:
        print(json.dumps([{'name': t.name, 'scene': t.scene, 'instruction': t.instruction}
                          for t in TASKS.values()], indent=2))
    else:
        width = max(len(name) for name in TASKS)
        for task in TASKS.values():
            print(f'{task.name:{width}s}  {task.scene:9s}  {task.instruction}')
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``resem3d`` argument parser."""
    parser = _Parser(prog='resem3d', description='resem3d: instruction + RGB-D view -> '
                     '3D spatial constraint programs, in the embedded simulation.')
    parser.add_argument('-v', '--verbose', action='count', default=0,
                        help='log warnings (-v) or progress (-vv) to stderr')
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of unexpected errors')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=_Parser)

    plan = sub.add_parser('plan', help='plan a simulated task: plan and constraint programs',
                          description='Render the task scene, perceive it, reason about it '
                          'with a model client and print the plan and the grounded constraint '
                          'programs.')
    plan.add_argument('--task', required=True, metavar='NAME',
                      help='task name (see: resem3d tasks)')
    plan.add_argument('--seed', default='0', metavar='N',
                      help='scene seed, 0..999999 (default 0)')
    plan.add_argument('--instruction', metavar='TEXT',
                      help="instruction (default: the task's own)")
    plan.add_argument('--mllm', choices=BACKENDS,
                      help='model client: oracle (simulator ground truth, labelled as such), '
                      'openai (OpenAI-compatible endpoint), replay (a recorded transcript); '
                      "default: reasoning.yaml's mllm.backend")
    plan.add_argument('--base-url', metavar='URL', help='openai: the endpoint /v1 URL (default: '
                      'reasoning.yaml)')
    plan.add_argument('--model', metavar='M',
                      help='openai: model name; replay: look answers up under it')
    plan.add_argument('--transcript', metavar='DIR',
                      help='oracle/openai: record every exchange in DIR; replay: answer from DIR')
    plan.add_argument('--config', metavar='DIR', help='config directory (default: the source '
                      "checkout's config/, else share/resem3d/config)")
    plan.add_argument('--json', action='store_true', help='print one JSON object')
    plan.set_defaults(run=_plan)

    run = sub.add_parser('run', help='run a simulated task in closed loop (perception, '
                         'reasoning, control) and report whether it succeeded',
                         description='Build the task world, plan from the first camera frame, '
                         'track every grounded object at 15 Hz and execute the constraint '
                         'programs with the 1 kHz controller, in simulated time; write '
                         'metrics.json, the model transcript and the recordings to the run '
                         'directory.')
    run.add_argument('--task', required=True, metavar='NAME',
                     help='task name (see: resem3d tasks)')
    run.add_argument('--seed', default='0', metavar='N', help='scene seed, 0..999999 (default 0)')
    run.add_argument('--instruction', metavar='TEXT', help="instruction (default: the task's own)")
    run.add_argument('--mllm', choices=BACKENDS, help='model client (as for plan)')
    run.add_argument('--base-url', metavar='URL', help='openai: the endpoint /v1 URL')
    run.add_argument('--model', metavar='M', help='openai: model name')
    run.add_argument('--transcript', metavar='DIR',
                     help='replay: answer from this recorded transcript (the run records its '
                     'own exchanges in <run dir>/transcript)')
    run.add_argument('--segmenter', choices=('sim', 'sam'),
                     help="segmenter of the planning frame (default: perception.yaml's)")
    run.add_argument('--disturb', metavar='SPEC',
                     help="move the task's object during the run: target:D@T (D m at T s, "
                     'e.g. target:0.1@3.0) or random (5-15 cm at a random moment, seeded)')
    run.add_argument('--out', metavar='DIR', help='run directory (default: runs/<id>)')
    run.add_argument('--config', metavar='DIR', help='config directory')
    run.add_argument('--json', action='store_true', help='print the metrics as one JSON object')
    run.set_defaults(run=_run)

    bench = sub.add_parser('bench', help='run tasks x seeds in closed loop in parallel and '
                           'report success rates and timings',
                           description='Run every task (or --tasks) at seeds 0..K-1 in '
                           'parallel processes, each as resem3d run, and print a table (--json: '
                           'one JSON object).')
    bench.add_argument('--tasks', default='all', metavar='all|NAME,...',
                       help='tasks to run (default all)')
    bench.add_argument('--seeds', default='1', metavar='K', help='seeds 0..K-1 (default 1)')
    bench.add_argument('--disturb', action='store_true',
                       help='each run with --disturb random')
    bench.add_argument('--mllm', choices=('oracle',), default='oracle',
                       help='model client (oracle only: the bench measures the execution stack)')
    bench.add_argument('--jobs', default='2', metavar='N', help='parallel processes (default 2)')
    bench.add_argument('--out', metavar='DIR',
                       help='directory of the runs (default: runs/bench-<time>)')
    bench.add_argument('--config', metavar='DIR', help='config directory')
    bench.add_argument('--json', action='store_true', help='print one JSON object')
    bench.add_argument('--json-out', metavar='FILE', help='also write the JSON report to FILE')
    bench.add_argument('--readme', metavar='FILE',
                       help='put the Markdown table into FILE between <!-- resem3d-bench:'
                            'closed-loop[-disturb] --> and its closing marker')
    bench.set_defaults(run=_bench)

    tasks = sub.add_parser('tasks', help='list the simulated tasks and their instructions')
    tasks.add_argument('--json', action='store_true', help='print a JSON array')
    tasks.set_defaults(run=_tasks)
    return parser


@contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """Route logging (and Python warnings) to stderr at the asked level, or nowhere."""
    root = logging.getLogger()
    handler: logging.Handler
    if verbosity > 0:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter('%(levelname)s %(name)s: %(message)s'))
        level = logging.WARNING if verbosity == 1 else logging.INFO
    else:
        handler = logging.NullHandler()      # keeps logging's last-resort stderr output off
        level = logging.ERROR
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(saved_level)


def _fail(step: str, reason: str, code: int) -> int:
    print(f'error: {step}: {" ".join(reason.split())}', file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    debug = '--debug' in (sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args.run
        with _logging(args.verbose):
            return run(args)
    except CommandError as error:
        return _fail(error.step, error.reason, error.exit_code)
    except KeyboardInterrupt:
        return _fail('interrupted', 'stopped by the user', 130)
    except BrokenPipeError:    # the reader went away (e.g. `| head`): nothing left to say
        try:                   # and no second failure when Python flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as error:
        if debug:
            raise
        return _fail('internal', f'{type(error).__name__}: {error} (a bug: rerun with --debug '
                     'for the traceback)', 1)


if __name__ == '__main__':
    sys.exit(main())
