"""``python -m resem3d.demo``: the main job, end to end, in one command (``make demo``).

Starts the project's OpenAI-compatible oracle server in this process (on a free loopback
port), then runs ``resem3d run`` on a chemistry-lab task with the ``openai`` model client
pointed at it: the real HTTP client, the real reasoning, perception with tracking at 15 Hz and
the 1 kHz controller in closed loop in simulated time. The answers come from the simulator
oracle (ground truth), and every output says so. Prints the live progress, the summary and
where the outputs are (``runs/<id>/``: metrics.json, transcript/, video.mp4, report.html,
run.mcap). Exit status 0 when the task succeeded, 1 when it failed, 2 when it could not start.

    python -m resem3d.demo [--task lab_bottle_to_stirrer] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time

DEMO_TASK = 'lab_bottle_to_stirrer'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m resem3d.demo',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--task', default=DEMO_TASK, help=f'task (default {DEMO_TASK})')
    parser.add_argument('--seed', default='0', help='scene seed (default 0)')
    parser.add_argument('--out', help='run directory (default runs/<id>)')
    args = parser.parse_args(argv)

    import logging
    logging.getLogger().addHandler(logging.NullHandler())
    from resem3d_reasoning.oracle_server import OracleServer

    from .loop import Progress
    from .plan import CommandError
    from .run import RunOptions, run, summary

    start = time.perf_counter()
    try:
        with OracleServer(log=None) as server:
            print(f'oracle server (simulator ground truth, OpenAI-compatible) at {server.url}',
                  file=sys.stderr)
            metrics = run(RunOptions(task=args.task, seed=args.seed, mllm='openai',
                                     base_url=server.url, model='resem3d-oracle',
                                     out=args.out), Progress(sys.stderr))
    except CommandError as error:
        print(f'error: {error.step}: {error.reason}', file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print('error: interrupted: stopped by the user', file=sys.stderr)
        return 130
    print(summary(metrics))
    outputs = metrics.get('outputs') or {}
    for name in ('video', 'report', 'mcap', 'transcript', 'metrics'):
        if name in outputs:
            print(f'  {name:10s} {outputs[name]}')
    print(f'demo wall time {time.perf_counter() - start:.1f} s')
    if not metrics['success']:
        print(f'failed: {metrics["failed_step"]}: {" ".join(metrics["reason"].split())}',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
