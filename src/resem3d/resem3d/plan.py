"""``resem3d plan``: plan one simulated task and report its plan and constraint programs.

The task's scene is built and rendered once, perceived (ground-truth segmenter, marks), and
reasoned about by :func:`resem3d_reasoning.planning.plan_task` with the chosen model client:

* ``oracle``: the in-process simulator oracle (ground-truth answers, always labelled so);
* ``openai``: any OpenAI-compatible endpoint (``reasoning.yaml``'s ``mllm.openai`` section,
  ``--base-url`` and ``--model`` override it); ``--transcript DIR`` records every exchange;
* ``replay``: the answers recorded in ``--transcript DIR``, no network.

:func:`run` returns the report as plain JSON values: :meth:`PlanResult.to_json` with the model
facts gathered under ``"mllm"`` (backend, model, whether the answers came from the oracle,
calls, invalid replies and latency per step) and ``command_s``, the command's wall time.
Every failure is a :class:`CommandError` naming the step that failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigFileError, ReasoningConfig, find_config_dir, load_reasoning_config

__all__ = ['BACKENDS', 'CommandError', 'MAX_SEED', 'PlanOptions', 'run', 'summary']

#: The ``--mllm`` choices.
BACKENDS = ('oracle', 'openai', 'replay')
#: Largest seed: a scene is named ``task@seed`` with at most 6 digits.
MAX_SEED = 999_999
#: Keys of ``PlanResult.to_json()`` that move under ``"mllm"`` in the report.
_MLLM_KEYS = {'calls': 'calls', 'invalid_replies': 'invalid_replies',
              'total_calls': 'total_calls', 'model_latency_s': 'latency_s'}


class CommandError(Exception):
    """A command failed at ``step`` for ``reason`` (one line); ``exit_code`` for the shell.

    Exit code 2: the command was asked something it cannot do (unknown task, bad seed, bad
    option or configuration); 1: it ran and failed (model, perception, simulation).
    """

    def __init__(self, step: str, reason: str, exit_code: int = 1) -> None:
        self.step = step
        self.reason = ' '.join(str(reason).split())
        self.exit_code = exit_code
        super().__init__(f'{step}: {self.reason}')


@dataclass(frozen=True)
class PlanOptions:
    """The arguments of ``resem3d plan`` (``None``: the configured default)."""

    task: str
    seed: str | int = 0
    instruction: str | None = None
    mllm: str | None = None
    base_url: str | None = None
    model: str | None = None
    transcript: str | None = None
    config: str | None = None


# ----------------------------------------------------------------------------- checks

def check_task(name: str) -> Any:
    """The task's spec; ``CommandError('task', ..., 2)`` naming the known tasks."""
    from resem3d_sim.catalog import UnknownTaskError, get_task
    try:
        return get_task(name)
    except UnknownTaskError as error:
        raise CommandError('task', str(error), 2) from None


def check_seed(seed: str | int) -> int:
    """The seed as an int in ``[0, MAX_SEED]``; else ``CommandError('seed', ..., 2)``."""
    text = str(seed).strip()
    value = int(text) if text.isascii() and text.isdigit() else -1
    if isinstance(seed, bool) or not 0 <= value <= MAX_SEED:
        raise CommandError('seed', f'expected an integer in [0, {MAX_SEED}], got {seed!r}', 2)
    return value


def _reasoning_config(options: PlanOptions) -> ReasoningConfig:
    try:
        return load_reasoning_config(find_config_dir(options.config))
    except ConfigFileError as error:
        raise CommandError('config', str(error), 2) from None


def client_config(options: PlanOptions, settings: ReasoningConfig) -> dict[str, Any]:
    """The ``make_client`` mapping for ``options.mllm`` (default: the configured backend).

    Raises:
        CommandError: ``mllm`` (exit 2) for an option that does not apply to the backend.
    """
    backend = options.mllm or settings.mllm['backend']
    if backend not in BACKENDS:
        raise CommandError('mllm', f'unknown backend {backend!r}; known: {", ".join(BACKENDS)}',
                           2)
    if options.base_url is not None and backend != 'openai':
        raise CommandError('mllm', '--base-url applies to --mllm openai only', 2)
    if backend == 'oracle':
        if options.model is not None:
            raise CommandError('mllm', '--model does not apply to --mllm oracle (its model is '
                               'resem3d-oracle)', 2)
        return {'backend': 'oracle', 'oracle': {}}
    if backend == 'replay':
        if not options.transcript:
            raise CommandError('mllm', '--mllm replay needs --transcript DIR (a recorded '
                               'transcript to answer from)', 2)
        replay: dict[str, Any] = {'dir': options.transcript}
        if options.model is not None:
            replay['model'] = options.model
        return {'backend': 'replay', 'replay': replay}
    openai = dict(settings.mllm.get('openai') or {})
    if options.base_url is not None:
        openai['base_url'] = options.base_url
    if options.model is not None:
        openai['model'] = options.model
    return {'backend': 'openai', 'openai': openai}


# ----------------------------------------------------------------------------- the command

def run(options: PlanOptions) -> dict[str, Any]:
    """Plan ``options.task`` and return the report (see the module docstring).

    Raises:
        CommandError: At the first step that fails (``task``, ``seed``, ``config``, ``mllm``,
            ``transcript``, ``scene``, ``perception``, or the reasoning step: ``plan``,
            ``extract``, ``refine_flow``, ``refine_grid``, ``program``).
    """
    start = time.perf_counter()
    spec = check_task(options.task)
    seed = check_seed(options.seed)
    if options.instruction is not None and not options.instruction.strip():
        raise CommandError('instruction', 'the instruction is empty', 2)
    settings = _reasoning_config(options)
    config = client_config(options, settings)

    from resem3d_reasoning import (ConfigError, ReasoningError, Transcript, TranscriptError,
                                   make_client)
    from resem3d_reasoning.engine import ReasoningFailure
    from resem3d_reasoning.planning import plan_task

    try:
        client = make_client(config)
    except ConfigError as error:
        raise CommandError('mllm', str(error), 2) from None
    except TranscriptError as error:
        raise CommandError('transcript', str(error), 2) from None
    transcript = None
    try:
        if options.transcript and config['backend'] != 'replay':
            try:
                transcript = Transcript.open(options.transcript)
            except TranscriptError as error:
                raise CommandError('transcript', str(error), 2) from None
        result = plan_task(spec.name, seed, client, instruction=options.instruction,
                           transcript=transcript, config=settings.engine)
    except ReasoningFailure as failure:
        raise CommandError(failure.step, _failure_reason(failure)) from None
    except TranscriptError as error:
        raise CommandError('transcript', str(error)) from None
    except ReasoningError as error:
        raise CommandError('reasoning', str(error)) from None
    except Exception as error:
        step = _failed_component(error)
        if step is None:
            raise
        raise CommandError(step, str(error) or type(error).__name__) from None
    finally:
        if transcript is not None:
            transcript.close()
        close = getattr(client, 'close', None)
        if callable(close):
            close()
    return _report(result, config, options, time.perf_counter() - start)


def _failure_reason(failure: Any) -> str:
    """``ReasoningFailure``'s reason without the step its cause repeats."""
    reason = failure.reason
    cause = failure.__cause__
    if cause is not None:
        text = str(cause)
        prefix = f'{failure.step}: '
        reason = 'the model call failed: ' + (text[len(prefix):] if text.startswith(prefix)
                                               else text)
    return f'subtask {failure.subtask}: {reason}' if failure.subtask else reason


def _failed_component(error: Exception) -> str | None:
    """The step of a simulator or perception error (None for anything else: a bug)."""
    from resem3d_perception import PerceptionError
    from resem3d_sim import SimError
    if isinstance(error, SimError):
        return 'scene'
    if isinstance(error, PerceptionError):
        return 'perception'
    return None


def _report(result: Any, config: dict[str, Any], options: PlanOptions,
            command_s: float) -> dict[str, Any]:
    report = result.to_json()
    backend = config['backend']
    mllm: dict[str, Any] = {
        'backend': backend,
        'answered_by': report.pop('backend'),
        'model': report.pop('model'),
        'from_oracle': report.pop('from_oracle'),
    }
    if backend == 'openai':
        mllm['base_url'] = config['openai'].get('base_url')
    if options.transcript:
        mllm['transcript'] = {'dir': str(Path(options.transcript)),
                              'mode': 'replay' if backend == 'replay' else 'record'}
    for key, name in _MLLM_KEYS.items():
        mllm[name] = report.pop(key)
    if mllm['from_oracle']:
        mllm['note'] = ('the answers came from the simulator oracle (ground truth), not from a '
                        'model')
    out = {'command': 'plan', 'task': report.pop('task'), 'seed': report.pop('seed'),
           'instruction': report.pop('instruction'), 'mllm': mllm}
    out.update(report)
    out['command_s'] = round(command_s, 4)
    return out


def summary(report: dict[str, Any]) -> str:
    """A short human summary of a report from :func:`run`."""
    mllm = report['mllm']
    answered = f'{mllm["answered_by"]} ({mllm["model"]})'
    lines = [f'{report["task"]} (seed {report["seed"]}): {report["instruction"]}',
             f'answers: {answered}' + (' -- ORACLE: simulator ground truth, not a model'
                                       if mllm['from_oracle'] else '')]
    lines.append(f'plan: {len(report["subtasks"])} subtask(s)')
    for i, sub in enumerate(report['subtasks'], start=1):
        program = sub['program']
        stages = ', '.join(stage['name'] for stage in program['stages'])
        lines.append(f'  {i}. {sub["name"]}: {len(program["stages"])} stage(s) ({stages}); '
                     f'regions {", ".join(program["regions"])}')
    calls = ', '.join(f'{step} {n}' for step, n in mllm['calls'].items() if n)
    invalid = sum(mllm['invalid_replies'].values())
    lines.append(f'model calls: {mllm["total_calls"]} ({calls}); invalid replies: {invalid}')
    lines.append(f'time: {report["command_s"]:.2f} s (perception {report["perception_s"]:.2f} s, '
                 f'reasoning {report["reasoning_s"]:.2f} s)')
    return '\n'.join(lines)
