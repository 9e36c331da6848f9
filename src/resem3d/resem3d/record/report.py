"""A run's report as one self-contained HTML file (``runs/<id>/report.html``).

Fill a :class:`RunReport` (or a plain dict of the same shape, see :meth:`RunReport.from_mapping`)
and call :func:`write_report`. The file needs no network: images are embedded as base64 PNG
``data:`` URLs, the residual plots are inline SVG drawn here (:mod:`.svg_plot`), the style is
inline, and a Content-Security-Policy forbids scripts and remote loads. The only outside
reference is the optional video next to the report (``video.mp4``, same folder).

Everything that may come from a model (instruction, subtask names and goals, constraint
programs, stage and constraint names, notes) is HTML-escaped; nothing is inserted raw.

Sections: the oracle banner (when the answers came from the simulator oracle), summary
(instruction, task, seed, success and its reason, durations), backend, plan (subtasks and their
outcomes), video, marked images, constraint programs (pretty JSON), residual plots (one per
unit), rates and latencies, other metrics, notes.

Example::

    report = RunReport(run_id='20250101-120000-lab_pour_beaker-0',
                       instruction='pour the water into the beaker', task='lab_pour_beaker',
                       seed=0, backend='oracle', model='resem3d-oracle', from_oracle=True,
                       success=True, success_reason='liquid in beaker: 0.92 of the volume',
                       subtasks=[SubtaskReport('grasp the flask', goal='...', program={...},
                                               outcome='done')],
                       images=[ReportImage('marks', marked.image, caption='set-of-marks')],
                       residuals=[ResidualSeries('grasp/reach', t_s, r, unit='m')],
                       stage_events=[(0.0, 'grasp'), (4.2, 'lift')],
                       rates=RatesReport(controller_p50_us=180.0, controller_p99_us=420.0,
                                         camera_hz=30.0, tracking_p50_ms=6.1, mllm_calls=7,
                                         mllm_latency_s=0.01),
                       sim_duration_s=21.5, wall_s=40.2, video='video.mp4')
    write_report('runs/<id>/report.html', report)
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .svg_plot import PlotSeries, svg_line_plot

__all__ = ['RatesReport', 'ReportImage', 'ResidualSeries', 'RunReport', 'SubtaskReport',
           'png_data_url', 'render_report', 'write_report']

_VIDEO_NAME = re.compile(r'[A-Za-z0-9_\-][A-Za-z0-9_.\-]*')
_CSP = ("default-src 'none'; img-src data:; media-src 'self'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'")


@dataclass(frozen=True)
class ReportImage:
    """An image shown in the report (e.g. the set-of-marks image the model saw).

    Attributes:
        title: Heading of the figure.
        rgb: (H, W, 3) uint8 RGB image (embedded as PNG).
        caption: Text under the image.
    """

    title: str
    rgb: np.ndarray
    caption: str = ''


@dataclass(frozen=True)
class SubtaskReport:
    """One subtask of the plan.

    Attributes:
        name: Subtask name (from the model).
        goal: Its goal in words (from the model).
        program: Its constraint program as JSON values (``resem3d_constraints.
            program_to_json``), or None when none was produced.
        outcome: What happened, e.g. ``done``, ``failed: <reason>``, ``not reached``.
    """

    name: str
    goal: str = ''
    program: Any = None
    outcome: str = ''


@dataclass(frozen=True)
class ResidualSeries:
    """The residual of one constraint (or of one stage, e.g. its largest) over time.

    Attributes:
        name: Legend text, e.g. ``pour/tilt`` (stage/constraint).
        t_s: Simulated times [s].
        residual: Violation at those times, in ``unit`` (0 = within bounds).
        unit: ``m``, ``rad`` or another unit; series of one unit share a plot.
        stage: The stage the constraint belongs to ('' = not said); the legend shows
            ``stage/name`` unless ``name`` already starts so.
    """

    name: str
    t_s: Sequence[float] | np.ndarray
    residual: Sequence[float] | np.ndarray
    unit: str = 'm'
    stage: str = ''


@dataclass(frozen=True)
class RatesReport:
    """Rates and latencies of the run (None = not measured; shown as n/a).

    Attributes:
        controller_rate_hz: Controller ticks per second of simulated time [Hz].
        controller_p50_us: Median compute time of one controller tick (wall clock) [us].
        controller_p99_us: 99th percentile of the same [us].
        camera_hz: Camera frames per second of simulated time [Hz].
        tracking_p50_ms: Median time of one tracking update (wall clock) [ms].
        tracking_p95_ms: 95th percentile of the same [ms].
        tracking_p99_ms: 99th percentile of the same [ms].
        mllm_calls: Number of model calls.
        mllm_latency_s: Total wall time spent in model calls [s].
        mllm_calls_by_step: Model calls per reasoning step (plan, extract, ...).
        mllm_latency_by_step_s: Wall time in model calls per reasoning step [s].
        realtime_factor: Simulated time / wall time of the closed loop.
    """

    controller_rate_hz: float | None = None
    controller_p50_us: float | None = None
    controller_p99_us: float | None = None
    camera_hz: float | None = None
    tracking_p50_ms: float | None = None
    tracking_p95_ms: float | None = None
    tracking_p99_ms: float | None = None
    mllm_calls: int | None = None
    mllm_latency_s: float | None = None
    mllm_calls_by_step: Mapping[str, int] = field(default_factory=dict)
    mllm_latency_by_step_s: Mapping[str, float] = field(default_factory=dict)
    realtime_factor: float | None = None


@dataclass(frozen=True)
class RunReport:
    """Everything ``report.html`` shows about one ``resem3d run``.

    Attributes:
        run_id: The run's id (its folder name under ``runs/``).
        instruction: The natural-language instruction (from the user or the task).
        task: Simulated task name.
        seed: Scene seed.
        backend: Model client: ``oracle``, ``openai`` or ``replay``.
        model: Model name the answers came from (e.g. ``gpt-4o``, ``resem3d-oracle``).
        from_oracle: True when the answers came from the simulator oracle (ground truth),
            not from a model: the report then carries a banner saying so.
        success: Task success predicate (None = not evaluated).
        success_reason: Why it succeeded or failed, in words.
        subtasks: The plan, in order.
        images: Marked images (and any other figure), in order.
        residuals: Residual series over simulated time.
        stage_events: ``(t_s, stage name)`` when each stage became active (plot markers).
        rates: Rates and latencies.
        sim_duration_s: Simulated duration of the run [s].
        wall_s: Wall-clock duration of the run [s].
        video: File name of the video in the report's folder (e.g. ``video.mp4``); '' = none.
        metrics: Further key -> JSON value pairs shown in a table (e.g. from metrics.json).
        notes: Free-text remarks (warnings, fallbacks such as a Motion-JPEG video).
    """

    run_id: str
    instruction: str
    task: str
    seed: int
    backend: str
    model: str = ''
    from_oracle: bool = False
    success: bool | None = None
    success_reason: str = ''
    subtasks: Sequence[SubtaskReport] = ()
    images: Sequence[ReportImage] = ()
    residuals: Sequence[ResidualSeries] = ()
    stage_events: Sequence[tuple[float, str]] = ()
    rates: RatesReport = field(default_factory=RatesReport)
    sim_duration_s: float | None = None
    wall_s: float | None = None
    video: str = ''
    metrics: Mapping[str, Any] = field(default_factory=dict)
    notes: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.video and (not _VIDEO_NAME.fullmatch(self.video) or '..' in self.video):
            raise ValueError(f'video: expected a plain file name in the report folder, got '
                             f'{self.video!r}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RunReport:
        """A report from plain values: the fields above as keys; ``subtasks``, ``images``,
        ``residuals`` items and ``rates`` may be dicts of their dataclass's fields (or
        instances). Unknown keys are errors (``ValueError``), so typos do not vanish."""
        nested = {'subtasks': SubtaskReport, 'images': ReportImage, 'residuals': ResidualSeries}
        values = dict(_checked_keys(cls, mapping, 'report'))
        for key, item_cls in nested.items():
            if key in values:
                values[key] = [_build(item_cls, item, f'{key}[{i}]')
                               for i, item in enumerate(values[key])]
        if 'rates' in values:
            values['rates'] = _build(RatesReport, values['rates'], 'rates')
        if 'stage_events' in values:
            values['stage_events'] = [(float(t), str(name)) for t, name in values['stage_events']]
        return cls(**values)


def _checked_keys(cls: type, mapping: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f'{where}: expected a mapping, got {type(mapping).__name__}')
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(f'{where}: unknown keys {unknown}; known: {sorted(known)}')
    return mapping


def _build(cls: type, item: Any, where: str) -> Any:
    if isinstance(item, cls):
        return item
    return cls(**_checked_keys(cls, item, where))


# ----------------------------------------------------------------------------- rendering

def _e(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def _num(value: float | int | None, fmt: str = '.4g', unit: str = '') -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return 'n/a'
    if fmt == 'd':
        value = int(value)
    return f'{value:{fmt}}' + (f' {unit}' if unit else '')


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)


def png_data_url(rgb: np.ndarray) -> str:
    """``data:image/png;base64,...`` of an (H, W, 3) uint8 RGB image."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3:
        raise ValueError('image: expected an (H, W, 3) uint8 RGB array')
    ok, png = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError('image: PNG encoding failed')
    return 'data:image/png;base64,' + base64.b64encode(png.tobytes()).decode('ascii')


def _success_text(report: RunReport) -> str:
    if report.success is None:
        return '<span class="badge na">not evaluated</span>'
    css, word = ('ok', 'SUCCESS') if report.success else ('fail', 'FAILURE')
    return f'<span class="badge {css}">{word}</span>'


def _table(rows: Sequence[tuple[str, str]]) -> str:
    """Rows of (escaped header, already-safe HTML cell)."""
    body = '\n'.join(f'<tr><th>{_e(k)}</th><td>{v}</td></tr>' for k, v in rows)
    return f'<table>\n{body}\n</table>'


def _summary(report: RunReport) -> str:
    rows = [('instruction', _e(report.instruction)), ('task', _e(report.task)),
            ('seed', _e(report.seed)), ('success', _success_text(report)),
            ('reason', _e(report.success_reason or 'n/a')),
            ('simulated time', _num(report.sim_duration_s, '.2f', 's')),
            ('wall time', _num(report.wall_s, '.2f', 's'))]
    return '<section id="summary"><h2>Run</h2>\n' + _table(rows) + '</section>'


def _backend(report: RunReport) -> str:
    source = ('the simulator oracle (ground truth), not a model' if report.from_oracle
              else 'the model')
    rows = [('backend', _e(report.backend)), ('model', _e(report.model or 'n/a')),
            ('answers from', _e(source))]
    return '<section id="backend"><h2>Backend</h2>\n' + _table(rows) + '</section>'


def _plan(report: RunReport) -> str:
    if not report.subtasks:
        return '<section id="plan"><h2>Plan</h2><p>No plan was made.</p></section>'
    items = []
    for sub in report.subtasks:
        goal = f' &mdash; {_e(sub.goal)}' if sub.goal else ''
        outcome = f' <span class="outcome">[{_e(sub.outcome)}]</span>' if sub.outcome else ''
        items.append(f'<li><b>{_e(sub.name)}</b>{goal}{outcome}</li>')
    return '<section id="plan"><h2>Plan</h2>\n<ol>\n' + '\n'.join(items) + '\n</ol></section>'


def _video(report: RunReport) -> str:
    if not report.video:
        return ''
    name = _e(report.video)
    return ('<section id="video"><h2>Video</h2>\n'
            f'<video controls preload="metadata" src="{name}"></video>\n'
            f'<p class="small">File: <a href="{name}">{name}</a> (in this folder; browsers '
            'play H.264 only, an mp4v or Motion-JPEG file needs a desktop player).</p>'
            '</section>')


def _images(report: RunReport) -> str:
    if not report.images:
        return ''
    figures = []
    for image in report.images:
        caption = f'<figcaption>{_e(image.caption)}</figcaption>' if image.caption else ''
        h, w = image.rgb.shape[:2]
        figures.append(f'<figure><h3>{_e(image.title)}</h3>'
                       f'<img alt="{_e(image.title)}" width="{w}" height="{h}" '
                       f'src="{png_data_url(image.rgb)}">{caption}</figure>')
    return '<section id="images"><h2>Marked images</h2>\n' + '\n'.join(figures) + '</section>'


def _programs(report: RunReport) -> str:
    blocks = [f'<details open><summary>{_e(sub.name)}</summary>'
              f'<pre>{_e(_json_text(sub.program))}</pre></details>'
              for sub in report.subtasks if sub.program is not None]
    if not blocks:
        return ''
    return ('<section id="programs"><h2>Constraint programs</h2>\n' + '\n'.join(blocks)
            + '</section>')


def _residuals(report: RunReport) -> str:
    if not report.residuals:
        return ('<section id="residuals"><h2>Constraint residuals</h2>'
                '<p>No residuals were recorded.</p></section>')
    units: dict[str, list[PlotSeries]] = {}
    for s in report.residuals:
        label = s.name if not s.stage or s.name.startswith(s.stage + '/') else \
            f'{s.stage}/{s.name}'
        units.setdefault(s.unit, []).append(PlotSeries(label, s.t_s, s.residual))
    plots = [svg_line_plot(series, title=f'residuals [{unit or "-"}]',
                           y_label=f'violation [{unit}]' if unit else 'violation',
                           events=report.stage_events)
             for unit, series in units.items()]
    return ('<section id="residuals"><h2>Constraint residuals</h2>\n'
            '<p class="small">Violation of each constraint beyond its bounds over simulated '
            'time (0 = met); dashed lines: stage starts.</p>\n'
            + '\n'.join(plots) + '</section>')


def _rates(report: RunReport) -> str:
    r = report.rates
    rows = [('controller rate', _num(r.controller_rate_hz, '.1f', 'Hz')),
            ('controller tick p50', _num(r.controller_p50_us, '.1f', 'us')),
            ('controller tick p99', _num(r.controller_p99_us, '.1f', 'us')),
            ('camera rate', _num(r.camera_hz, '.1f', 'Hz')),
            ('tracking p50', _num(r.tracking_p50_ms, '.2f', 'ms')),
            ('tracking p95', _num(r.tracking_p95_ms, '.2f', 'ms')),
            ('tracking p99', _num(r.tracking_p99_ms, '.2f', 'ms')),
            ('real-time factor', _num(r.realtime_factor, '.2f')),
            ('model calls', _num(r.mllm_calls, 'd')),
            ('model latency (total)', _num(r.mllm_latency_s, '.3f', 's'))]
    for step in sorted(set(r.mllm_calls_by_step) | set(r.mllm_latency_by_step_s)):
        calls = r.mllm_calls_by_step.get(step)
        latency = r.mllm_latency_by_step_s.get(step)
        rows.append((f'model: {step}', f'{_num(calls, "d")} call(s), '
                                       f'{_num(latency, ".3f", "s")}'))
    return '<section id="rates"><h2>Rates and latencies</h2>\n' + _table(rows) + '</section>'


def _metrics(report: RunReport) -> str:
    if not report.metrics:
        return ''
    rows = [(str(k), f'<code>{_e(json.dumps(v, ensure_ascii=False, default=_json_default))}'
                     '</code>') for k, v in report.metrics.items()]
    return '<section id="metrics"><h2>Other metrics</h2>\n' + _table(rows) + '</section>'


def _notes(report: RunReport) -> str:
    if not report.notes:
        return ''
    items = '\n'.join(f'<li>{_e(note)}</li>' for note in report.notes)
    return f'<section id="notes"><h2>Notes</h2>\n<ul>\n{items}\n</ul></section>'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1000px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } th, td { padding: 3px 10px; text-align: left;
  vertical-align: top; border-bottom: 1px solid #eee; }
th { color: #555; font-weight: 600; white-space: nowrap; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid #ccc; }
figcaption, .small { font-size: 0.85em; color: #555; }
video { max-width: 100%; }
.banner { background: #fff3cd; border: 2px solid #e0a800; padding: 10px 14px;
  font-weight: 600; margin: 1em 0; }
.badge { padding: 1px 8px; border-radius: 3px; font-weight: 700; color: #fff; }
.badge.ok { background: #2e7d32; } .badge.fail { background: #c62828; }
.badge.na { background: #777; }
.outcome { color: #555; }
"""


def render_report(report: RunReport | Mapping[str, Any]) -> str:
    """The report's HTML document as a string (see the module docstring)."""
    if not isinstance(report, RunReport):
        report = RunReport.from_mapping(report)
    banner = ''
    if report.from_oracle:
        banner = ('<div class="banner" id="oracle-banner">The answers in this run came from the '
                  'simulator oracle (ground truth), not from a model. It measures the execution '
                  'stack, not reasoning.</div>')
    parts = [
        '<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f'<title>resem3d run {_e(report.run_id)}</title>', f'<style>{_STYLE}</style>',
        '</head>', '<body>', f'<h1>resem3d run <code>{_e(report.run_id)}</code></h1>', banner,
        _summary(report), _backend(report), _plan(report), _video(report), _images(report),
        _programs(report), _residuals(report), _rates(report), _metrics(report),
        _notes(report), '</body>', '</html>']
    return '\n'.join(part for part in parts if part) + '\n'


def write_report(path: str | os.PathLike[str], report: RunReport | Mapping[str, Any]) -> Path:
    """Write ``report`` (a :class:`RunReport` or a mapping for :meth:`RunReport.from_mapping`)
    as one self-contained HTML file at ``path`` (parents created); return the path."""
    text = render_report(report)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding='utf-8')
    return out
