"""``resem3d bench``: tasks x seeds in closed loop, in parallel processes, and their statistics.

Each run is :func:`resem3d.run.run` (the same closed loop as ``resem3d run``) in a worker
process (``ProcessPoolExecutor`` with the ``spawn`` start method: every worker is a fresh
interpreter, so OpenGL contexts and the render processes are never forked). Runs leave their
directories under ``--out`` (default ``runs/bench-<time>/<task>-s<seed>``). Each run's camera
latency is fixed in simulated time, so the outcome of a run does not depend on how many run
beside it; its wall time does.

The report (``--json``: one JSON object) has, per task: the success rate, the mean simulated
time to success, the controller step time (mean over runs of each run's p50 and p99, in µs),
the tracking time per frame (mean of p50 and p95, in ms), the model calls per run, the
disturbance follow time when ``--disturb`` is given, and the failure reasons; then the totals.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .plan import CommandError

__all__ = ['BenchOptions', 'bench', 'main_bench', 'markdown_table', 'table', 'update_readme']

MAX_SEEDS = 100
MAX_JOBS = 16


@dataclass(frozen=True)
class BenchOptions:
    """The arguments of ``resem3d bench``."""

    tasks: str = 'all'
    seeds: str | int = 1
    disturb: bool = False
    mllm: str = 'oracle'
    jobs: str | int = 2
    out: str | None = None
    config: str | None = None


def _positive(name: str, value: str | int, high: int) -> int:
    text = str(value).strip()
    number = int(text) if text.isascii() and text.isdigit() else -1
    if isinstance(value, bool) or not 1 <= number <= high:
        raise CommandError(name, f'expected an integer in [1, {high}], got {value!r}', 2)
    return number


def _task_names(spec: str) -> list[str]:
    from resem3d_sim.catalog import TASKS
    if spec.strip() == 'all':
        return list(TASKS)
    names = [n.strip() for n in spec.split(',') if n.strip()]
    if not names:
        raise CommandError('tasks', 'no task named (all, or NAME,...)', 2)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise CommandError('tasks', f'unknown task {unknown[0]!r}; known: {", ".join(TASKS)}', 2)
    return list(dict.fromkeys(names))


def _one(job: tuple[str, int, bool, str, str, str | None]) -> dict[str, Any]:
    """Worker: one run; returns the metrics the report needs (a bug is a failed run)."""
    task, seed, disturb, mllm, out, config = job
    import logging
    root = logging.getLogger()
    if not root.handlers:          # a fresh (spawned) worker: no last-resort stderr output
        root.addHandler(logging.NullHandler())
    from .run import RunOptions, run
    try:
        metrics = run(RunOptions(task=task, seed=seed, mllm=mllm, out=out, config=config,
                                 disturb='random' if disturb else None, record=False))
    except CommandError as error:
        return {'task': task, 'seed': seed, 'success': False, 'reason': str(error),
                'error': True}
    except Exception as error:  # noqa: BLE001 (one broken run must not end the bench)
        return {'task': task, 'seed': seed, 'success': False, 'error': True,
                'reason': f'internal: {type(error).__name__}: {error}'}
    keep = ('task', 'seed', 'success', 'reason', 'failed_step', 'sim_s', 'wall_s',
            'controller', 'tracking', 'camera', 'mllm', 'from_oracle', 'disturbance',
            'run_dir')
    return {k: metrics.get(k) for k in keep}


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 3) if values else None


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r['success']]

    def get(r: dict[str, Any], section: str, key: str) -> float | None:
        return (r.get(section) or {}).get(key)

    out: dict[str, Any] = {
        'runs': len(runs), 'successes': len(ok),
        'success_rate': round(len(ok) / len(runs), 3) if runs else None,
        'mean_time_to_success_s': _mean([r['sim_s'] for r in ok]),
        'mean_wall_s': _mean([r.get('wall_s') for r in runs]),
        'controller_step_us_p50': _mean([get(r, 'controller', 'step_us_p50') for r in runs]),
        'controller_step_us_p99': _mean([get(r, 'controller', 'step_us_p99') for r in runs]),
        'tracking_ms_p50': _mean([get(r, 'tracking', 'ms_p50') for r in runs]),
        'tracking_ms_p95': _mean([get(r, 'tracking', 'ms_p95') for r in runs]),
        'mllm_calls_per_run': _mean([get(r, 'mllm', 'total_calls') for r in runs]),
        'from_oracle': any(r.get('from_oracle') for r in runs),
        'failures': [{'seed': r['seed'], 'reason': r['reason']} for r in runs
                     if not r['success']],
    }
    disturbed = [r['disturbance'] for r in runs if r.get('disturbance')]
    if disturbed:
        applied = [d for d in disturbed if d.get('applied')]
        followed = [d for d in applied if d.get('follow_s') is not None]
        out['disturbance'] = {
            'applied': len(applied), 'followed': len(followed),
            'mean_follow_s': _mean([d['follow_s'] for d in followed]),
            'max_follow_frames': max((d['follow_frames'] for d in followed), default=None),
            'followed_on_first_frame_showing': sum(
                1 for d in followed if d.get('follow_frames_showing') == 1),
            'mean_distance_m': _mean([d.get('actual_distance_m') for d in applied])}
    return out


def bench(options: BenchOptions, stream: TextIO | None = sys.stderr) -> dict[str, Any]:
    """Run the bench and return its report (see the module docstring).

    Raises:
        CommandError: For bad arguments (exit code 2).
    """
    start = time.perf_counter()
    names = _task_names(options.tasks)
    seeds = _positive('seeds', options.seeds, MAX_SEEDS)
    jobs = _positive('jobs', options.jobs, MAX_JOBS)
    if options.mllm != 'oracle':
        raise CommandError('mllm', 'the bench runs with --mllm oracle only', 2)
    root = Path(options.out) if options.out else Path('runs') / \
        f'bench-{time.strftime("%Y%m%d-%H%M%S")}'
    suffix = '-disturb' if options.disturb else ''
    work = [(task, seed, options.disturb, options.mllm,
             str(root / f'{task}-s{seed}{suffix}'), options.config)
            for task in names for seed in range(seeds)]
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(work)),
                             mp_context=mp.get_context('spawn')) as pool:
        futures = [pool.submit(_one, job) for job in work]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            if stream is not None:
                state = 'ok' if result['success'] else f'FAILED: {result["reason"]}'
                sim = result.get('sim_s')
                stream.write(f'[{len(results)}/{len(work)}] {result["task"]} seed '
                             f'{result["seed"]}: {state}'
                             + (f' ({sim:.1f} s sim)' if sim is not None else '') + '\n')
                stream.flush()
    order = {(task, seed): i for i, (task, seed, *_) in enumerate(work)}
    results.sort(key=lambda r: order[(r['task'], r['seed'])])
    per_task = {task: _summarise([r for r in results if r['task'] == task]) for task in names}
    total = _summarise(results)
    total.pop('failures')
    return {'command': 'bench', 'tasks': names, 'seeds': seeds, 'disturb': options.disturb,
            'mllm': options.mllm, 'jobs': jobs, 'per_task': per_task, 'totals': total,
            'wall_s': round(time.perf_counter() - start, 2), 'out': str(root),
            'runs': results}


def table(report: dict[str, Any]) -> str:
    """The report as a text table."""
    head = ('task', 'success', 't_success_s', 'ctrl_p50/p99_us', 'track_p50/p95_ms', 'calls')
    rows = [head]

    def fmt(v: Any, spec: str = '.1f') -> str:
        return '-' if v is None else format(v, spec)

    for task, s in list(report['per_task'].items()) + [('TOTAL', report['totals'])]:
        rows.append((task, f'{s["successes"]}/{s["runs"]}', fmt(s['mean_time_to_success_s']),
                     f'{fmt(s["controller_step_us_p50"], ".0f")}/'
                     f'{fmt(s["controller_step_us_p99"], ".0f")}',
                     f'{fmt(s["tracking_ms_p50"])}/{fmt(s["tracking_ms_p95"])}',
                     fmt(s['mllm_calls_per_run'])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    for task, s in report['per_task'].items():
        for failure in s['failures']:
            lines.append(f'failed: {task} seed {failure["seed"]}: {failure["reason"]}')
    d = report['totals'].get('disturbance')
    if d:
        lines.append(f'disturbances: {d["applied"]} applied, {d["followed"]} followed by the '
                     f'tracking (mean {fmt(d["mean_follow_s"], ".3f")} s, at most '
                     f'{d["max_follow_frames"]} frame(s) delivered; '
                     f'{d.get("followed_on_first_frame_showing", 0)} on the first frame '
                     'captured after the move)')
    lines.append(f'wall {report["wall_s"]:.0f} s with {report["jobs"]} job(s); runs in '
                 f'{report["out"]}' + ('; ORACLE answers' if report['totals']['from_oracle']
                                       else ''))
    return '\n'.join(lines)


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table with a line saying how it was made (for the README)."""

    def fmt(v: Any, spec: str = '.1f') -> str:
        return '–' if v is None else format(v, spec)

    disturb = report['disturb']
    head = ['task', 'success', 'time to success [s]', 'controller p50 / p99 [µs]',
            'tracking p50 / p95 [ms]', 'model calls']
    if disturb:
        head.append('disturbances followed (max frames; on the 1st frame showing it)')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for task, s in list(report['per_task'].items()) + [('**total**', report['totals'])]:
        name = task if task.startswith('**') else f'`{task}`'
        cells = [name, f'{s["successes"]}/{s["runs"]} ({fmt(s["success_rate"], ".2f")})',
                 fmt(s['mean_time_to_success_s']),
                 f'{fmt(s["controller_step_us_p50"], ".0f")} / '
                 f'{fmt(s["controller_step_us_p99"], ".0f")}',
                 f'{fmt(s["tracking_ms_p50"])} / {fmt(s["tracking_ms_p95"])}',
                 fmt(s['mllm_calls_per_run'])]
        if disturb:
            d = s.get('disturbance') or {}
            cells.append(f'{d.get("followed", 0)}/{d.get("applied", 0)} '
                         f'({fmt(d.get("max_follow_frames"), "d")}; '
                         f'{d.get("followed_on_first_frame_showing", 0)})')
        lines.append('| ' + ' | '.join(cells) + ' |')
    seeds = report['seeds']
    lines.append('')
    lines.append(f'Generated by `resem3d bench --seeds {seeds}'
                 + (' --disturb' if disturb else '') + '` on '
                 + time.strftime('%Y-%m-%d', time.gmtime()) + f' ({platform.machine()}, '
                 f'{report["jobs"]} parallel runs, {report["wall_s"]:.0f} s wall; seeds 0–'
                 f'{seeds - 1}; '
                 + ('ORACLE answers (simulator ground truth, not a model)'
                    if report['totals']['from_oracle'] else 'model answers') + ').')
    return '\n'.join(lines)


def _readme_block(path: str | Path, disturb: bool) -> tuple[str, re.Pattern[str], str, str]:
    """The text of ``path``, the pattern of its bench block, and the block's markers."""
    key = 'closed-loop-disturb' if disturb else 'closed-loop'
    start, end = f'<!-- resem3d-bench:{key} -->', f'<!-- /resem3d-bench:{key} -->'
    try:
        text = Path(path).read_text(encoding='utf-8')
    except OSError as error:
        raise CommandError('readme', f'{path}: {error.strerror or error}', 2) from None
    pattern = re.compile(re.escape(start) + r'.*?' + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise CommandError('readme', f'{path}: no block {start} ... {end}', 2)
    return text, pattern, start, end


def update_readme(path: str | Path, report: dict[str, Any]) -> None:
    """Replace the bench block of ``path`` with :func:`markdown_table` of ``report``.

    The block lies between ``<!-- resem3d-bench:KEY -->`` and ``<!-- /resem3d-bench:KEY -->``,
    KEY being ``closed-loop`` or ``closed-loop-disturb`` (after ``--disturb``).

    Raises:
        CommandError: If the file or its markers are missing (exit code 2).
    """
    text, pattern, start, end = _readme_block(path, report['disturb'])
    block = f'{start}\n{markdown_table(report)}\n{end}'
    Path(path).write_text(pattern.sub(lambda _: block, text, count=1), encoding='utf-8')


def main_bench(options: BenchOptions, as_json: bool, json_out: str | None = None,
               readme: str | None = None) -> int:
    """What ``resem3d bench`` does after parsing: run, print, and optionally save the JSON
    report (``json_out``) and put its table into a README (``readme``)."""
    if readme is not None:
        _readme_block(readme, options.disturb)      # a missing block fails before the runs
    report = bench(options)
    print(json.dumps(report, indent=2) if as_json else table(report))
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report, indent=2) + '\n', encoding='utf-8')
    if readme is not None:
        update_readme(readme, report)
    return 0
