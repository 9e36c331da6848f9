"""A small line plot as inline SVG (no plotting library, no external resources).

:func:`svg_line_plot` draws time series (e.g. constraint residuals over simulated time) with
axes, "nice" ticks, a legend and optional vertical event lines (stage changes). Every text in
the output is HTML-escaped, so names coming from a model cannot inject markup. Long series are
reduced by :func:`decimate` to a min/max envelope that keeps their peaks; non-finite values
break the line.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .overlays import palette

__all__ = ['PlotSeries', 'decimate', 'nice_ticks', 'svg_line_plot']


@dataclass(frozen=True)
class PlotSeries:
    """One line of a plot.

    Attributes:
        name: Legend text.
        t_s: (N,) times [s], non-decreasing.
        values: (N,) values (NaN/inf break the line).
    """

    name: str
    t_s: Sequence[float] | np.ndarray
    values: Sequence[float] | np.ndarray


def decimate(t: np.ndarray, v: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: per bucket of consecutive samples its min and max.

    Peaks survive (a residual spike stays visible); a bucket holding a non-finite value yields
    NaN there (a gap). Series already short enough are returned unchanged.
    """
    n = len(v)
    if n <= max_points:
        return t, v
    buckets = max(1, max_points // 2)
    starts = np.linspace(0, n, buckets + 1).astype(int)[:-1]
    lo = np.minimum.reduceat(v, starts)
    hi = np.maximum.reduceat(v, starts)
    ends = np.append(starts[1:], n) - 1
    t_out = np.empty(2 * buckets)
    v_out = np.empty(2 * buckets)
    t_out[0::2], t_out[1::2] = t[starts], t[ends]
    # Order min and max within each bucket as they occur in time.
    lo_first = np.ones(buckets, dtype=bool)
    for k, (s, e) in enumerate(zip(starts, ends)):
        chunk = v[s:e + 1]
        if np.isfinite(chunk).all():
            lo_first[k] = np.argmin(chunk) <= np.argmax(chunk)
    v_out[0::2] = np.where(lo_first, lo, hi)
    v_out[1::2] = np.where(lo_first, hi, lo)
    return t_out, v_out


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 5 times a power of ten) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(value) < 1e-12 * step else value)
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f'{value:.4g}'


def _hex(rgb: tuple[int, int, int]) -> str:
    return '#{:02x}{:02x}{:02x}'.format(*rgb)


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    """SVG path data; a new sub-path after every non-finite point."""
    parts: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys):
        if not (math.isfinite(x) and math.isfinite(y)):
            pen_down = False
            continue
        parts.append(f'{"L" if pen_down else "M"}{x:.1f} {y:.1f}')
        pen_down = True
    return ' '.join(parts)


def svg_line_plot(series: Sequence[PlotSeries], *, title: str = '', x_label: str = 't [s]',
                  y_label: str = '', events: Sequence[tuple[float, str]] = (),
                  width_px: int = 760, height_px: int = 280, max_points: int = 800,
                  y_from_zero: bool = True) -> str:
    """An ``<svg>`` element plotting ``series`` against time.

    Args:
        series: The lines; the i-th gets :func:`~.overlays.palette` colour i.
        title: Title above the plot.
        x_label: Label of the time axis.
        y_label: Label of the value axis (say the unit).
        events: ``(t_s, label)`` vertical dashed lines, e.g. when each stage started.
        width_px: Width of the drawing [px]; the height grows with the legend.
        height_px: Height of the plotting area plus axes [px].
        max_points: Most points drawn per series (see :func:`decimate`).
        y_from_zero: Start the value axis at 0 when all values are >= 0.

    Returns:
        SVG markup (a string) for inline use in HTML.
    """
    left, right, top, bottom = 64, 16, 28 if title else 12, 40
    plot_w, plot_h = width_px - left - right, height_px - top - bottom
    lines = []
    for s in series:
        t = np.asarray(s.t_s, dtype=float).reshape(-1)
        v = np.asarray(s.values, dtype=float).reshape(-1)
        if t.shape != v.shape:
            raise ValueError(f'series {s.name!r}: {len(t)} times but {len(v)} values')
        lines.append((s.name, *decimate(t, v, max_points)))
    finite_t = np.concatenate([t[np.isfinite(t)] for _, t, _ in lines] or [np.empty(0)])
    finite_v = np.concatenate([v[np.isfinite(v)] for _, _, v in lines] or [np.empty(0)])
    event_t = [t for t, _ in events if math.isfinite(t)]
    t_lo = min([*finite_t.tolist(), *event_t], default=0.0)
    t_hi = max([*finite_t.tolist(), *event_t], default=1.0)
    v_lo = float(finite_v.min()) if finite_v.size else 0.0
    v_hi = float(finite_v.max()) if finite_v.size else 1.0
    if y_from_zero and v_lo >= 0.0:
        v_lo = 0.0
    if t_hi <= t_lo:
        t_hi = t_lo + 1.0
    if v_hi <= v_lo:
        v_hi = v_lo + (abs(v_lo) or 1.0)
    v_hi += 0.05 * (v_hi - v_lo)

    def sx(t: np.ndarray | float) -> np.ndarray | float:
        return left + (np.asarray(t) - t_lo) / (t_hi - t_lo) * plot_w

    def sy(v: np.ndarray | float) -> np.ndarray | float:
        return top + plot_h - (np.asarray(v) - v_lo) / (v_hi - v_lo) * plot_h

    legend_rows = math.ceil(len(lines) / 3) if lines else 0
    total_h = height_px + 18 * legend_rows + 4
    esc = html.escape
    out = [f'<svg class="plot" width="{width_px}" height="{total_h}" '
           f'viewBox="0 0 {width_px} {total_h}" role="img" aria-label="{esc(title)}">',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" '
           f'stroke="#888"/>']
    if title:
        out.append(f'<text x="{left}" y="{top - 10}" font-size="13" font-weight="bold">'
                   f'{esc(title)}</text>')
    for value in nice_ticks(v_lo, v_hi):
        y = float(sy(value))
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{esc(_fmt(value))}</text>')
    for value in nice_ticks(t_lo, t_hi, 8):
        x = float(sx(value))
        out.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" '
                   f'y2="{top + plot_h + 4}" stroke="#888"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" '
                   f'text-anchor="middle">{esc(_fmt(value))}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 32}" font-size="12" '
               f'text-anchor="middle">{esc(x_label)}</text>')
    if y_label:
        out.append(f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="12" '
                   f'text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2:.1f})">'
                   f'{esc(y_label)}</text>')
    for t_event, label in events:
        if not math.isfinite(t_event):
            continue
        x = float(sx(t_event))
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                   f'stroke="#666" stroke-dasharray="4 3"><title>{esc(label)}</title></line>')
        out.append(f'<text x="{x + 3:.1f}" y="{top + 11}" font-size="10" fill="#444">'
                   f'{esc(label)}</text>')
    for i, (name, t, v) in enumerate(lines):
        data = _path(np.asarray(sx(t), dtype=float), np.asarray(sy(v), dtype=float))
        if data:
            out.append(f'<path d="{data}" fill="none" stroke="{_hex(palette(i))}" '
                       f'stroke-width="1.5"><title>{esc(name)}</title></path>')
    for i, (name, _, _) in enumerate(lines):
        x = left + (i % 3) * (plot_w / 3)
        y = height_px + 14 + 18 * (i // 3)
        out.append(f'<rect x="{x:.1f}" y="{y - 9}" width="14" height="4" '
                   f'fill="{_hex(palette(i))}"/>')
        out.append(f'<text x="{x + 18:.1f}" y="{y - 4}" font-size="11">{esc(name)}</text>')
    out.append('</svg>')
    return '\n'.join(out)
