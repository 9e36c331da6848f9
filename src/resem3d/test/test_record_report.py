"""Run recorders: the self-contained HTML report (resem3d.record.report) and its SVG plots."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from resem3d.record import (RatesReport, ReportImage, ResidualSeries, RunReport, SubtaskReport,
                            write_report)
from resem3d.record.report import render_report
from resem3d.record.svg_plot import decimate, nice_ticks, PlotSeries, svg_line_plot

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    """Every start tag and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(text)
    return parser.tags


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)


def hostile_report(**changes) -> RunReport:
    t = np.linspace(0.0, 4.0, 401)
    fields = dict(
        run_id='r1', instruction='pour ' + HOSTILE, task='lab_pour_beaker', seed=3,
        backend='oracle', model='resem3d-oracle', from_oracle=True, success=True,
        success_reason='poured ' + HOSTILE,
        subtasks=[SubtaskReport('grasp ' + HOSTILE, goal='hold it ' + HOSTILE,
                                program={'stages': [{'name': '</pre>' + HOSTILE}]},
                                outcome='done'),
                  SubtaskReport('pour', program=None, outcome='not reached')],
        images=[ReportImage('marks ' + HOSTILE, image(0), caption=HOSTILE),
                ReportImage('grid', image(1))],
        residuals=[ResidualSeries('reach ' + HOSTILE, t, np.exp(-t), unit='m', stage='grasp'),
                   ResidualSeries('tilt', t, 0.1 * np.abs(np.sin(t)), unit='rad')],
        stage_events=[(0.0, 'grasp'), (2.0, 'lift ' + HOSTILE)],
        rates=RatesReport(controller_rate_hz=1000.0, controller_p50_us=182.4,
                          controller_p99_us=431.0, camera_hz=30.0, tracking_p50_ms=6.2,
                          tracking_p99_ms=11.9, mllm_calls=7, mllm_latency_s=0.012,
                          mllm_calls_by_step={'plan': 1, 'extract': 6},
                          mllm_latency_by_step_s={'plan': 0.002, 'extract': 0.01}),
        sim_duration_s=4.0, wall_s=9.5, video='video.mp4',
        metrics={HOSTILE: {'value': HOSTILE}}, notes=[HOSTILE])
    fields.update(changes)
    return RunReport(**fields)


def test_report_is_self_contained_and_escapes_model_text(tmp_path):
    report = hostile_report()
    path = write_report(tmp_path / 'runs' / 'r1' / 'report.html', report)
    text = path.read_text(encoding='utf-8')
    assert text == render_report(report)
    tags = parse(text)
    # No markup from the hostile strings survives: no script, no event handlers, no extra img.
    assert '<script' not in text.lower()
    assert not [a for _, attrs in tags for a in attrs if a.startswith('on')]
    assert text.count('&lt;script&gt;') >= 10
    assert '&lt;/pre&gt;' in text
    # Nothing is loaded from elsewhere: images are data URLs, the video is a file beside it.
    assert 'http:' not in text and 'https:' not in text
    sources = [attrs.get('src') for tag, attrs in tags if 'src' in attrs]
    assert sources.count('video.mp4') == 1
    images = [s for s in sources if s != 'video.mp4']
    assert len(images) == 2 and all(s.startswith('data:image/png;base64,') for s in images)
    assert [tag for tag, _ in tags].count('img') == 2
    png = base64.b64decode(images[0].split(',', 1)[1])
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, image(0))
    # Sections, oracle banner, one residual plot per unit, success, rates.
    ids = {attrs.get('id') for _, attrs in tags}
    assert {'oracle-banner', 'summary', 'backend', 'plan', 'video', 'images', 'programs',
            'residuals', 'rates', 'metrics', 'notes'} <= ids
    assert 'simulator oracle (ground truth), not from a model' in text
    assert [tag for tag, _ in tags].count('svg') == 2
    assert 'residuals [m]' in text and 'residuals [rad]' in text
    assert 'grasp/reach &lt;script&gt;' in text          # stage/name legend
    assert 'SUCCESS' in text and '182.4 us' in text and '431.0 us' in text
    assert '30.0 Hz' in text and '6.20 ms' in text and '0.012 s' in text
    assert 'extract</th><td>6 call(s), 0.010 s' in text
    assert 'not reached' in text


def test_report_from_a_plain_mapping_without_oracle(tmp_path):
    mapping = {
        'run_id': 'r2', 'instruction': 'put the cup on the plate', 'task': 'cup_on_plate',
        'seed': 0, 'backend': 'openai', 'model': 'gpt-4o', 'success': False,
        'success_reason': 'cup not on plate',
        'subtasks': [{'name': 'place', 'program': {'stages': []}, 'outcome': 'failed'}],
        'residuals': [{'name': 'place/over', 't_s': [0.0, 1.0], 'residual': [0.2, 0.1]}],
        'rates': {'camera_hz': 15.0},
        'stage_events': [[0.0, 'place']],
    }
    text = write_report(tmp_path / 'report.html', mapping).read_text(encoding='utf-8')
    ids = {attrs.get('id') for _, attrs in parse(text)}
    assert 'oracle-banner' not in ids and 'video' not in ids
    assert 'FAILURE' in text and 'cup not on plate' in text and 'gpt-4o' in text
    assert '15.0 Hz' in text and text.count('n/a') >= 6
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        RunReport.from_mapping({**mapping, 'colour': 'red'})
    with pytest.raises(ValueError, match=r'rates: unknown keys'):
        RunReport.from_mapping({**mapping, 'rates': {'camera_fps': 15.0}})
    with pytest.raises(ValueError, match='plain file name'):
        RunReport.from_mapping({**mapping, 'video': 'https://example.com/v.mp4'})


def test_svg_plot_keeps_peaks_breaks_at_gaps_and_escapes():
    t = np.linspace(0.0, 10.0, 10_000)
    v = np.zeros_like(t)
    v[4321] = 5.0
    t_d, v_d = decimate(t, v, 800)
    assert len(v_d) <= 800 and v_d.max() == 5.0 and np.all(np.diff(t_d) >= 0)
    assert len(decimate(t[:50], v[:50], 800)[1]) == 50   # short series: unchanged
    assert nice_ticks(0.0, 0.1) == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08, 0.1])
    gap = np.array([1.0, 2.0, np.nan, 1.0, 0.5])
    svg = svg_line_plot([PlotSeries('a<b>', np.arange(5.0), gap)], title='t&t',
                        events=[(1.5, '<i>')])
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    assert path.count('M') == 2 and path.count('L') == 2
    assert 'a&lt;b&gt;' in svg and 't&amp;t' in svg and '&lt;i&gt;' in svg and '<i>' not in svg
    with pytest.raises(ValueError, match='3 times but 2 values'):
        svg_line_plot([PlotSeries('x', [0, 1, 2], [0, 1])])


# ----------------------------------------------------------------------------- the Recorder

def fake_frame(i: int, width: int = 64, height: int = 48):
    """What the closed loop delivers: an RgbdFrame-like object at 15 Hz."""
    from types import SimpleNamespace
    T_base_cam = np.eye(4)
    T_base_cam[:3, :3] = np.diag([1.0, -1.0, -1.0])       # looking down from 1 m
    T_base_cam[:3, 3] = (0.0, 0.0, 1.0)
    color = np.full((height, width, 3), 60 + 10 * i, np.uint8)
    intrinsics = SimpleNamespace(fx=50.0, fy=50.0, cx=width / 2, cy=height / 2, width=width,
                                 height=height)
    return SimpleNamespace(color=color, depth_m=np.full((height, width), 1.0, np.float32),
                           T_base_cam=T_base_cam, intrinsics=intrinsics, stamp_s=i / 15.0)


def run_metrics() -> dict:
    """The keys of resem3d run's metrics.json that the report reads."""
    return {
        'task': 'lab_pour_beaker', 'seed': 2, 'instruction': 'pour it', 'success': True,
        'reason': 'liquid in the beaker', 'sim_s': 0.4, 'wall_s': 3.0, 'realtime_factor': 0.13,
        'stages': [{'subtask': 'grasp', 'stage': 'reach', 'reached': True, 't_start_s': 0.0},
                   {'subtask': 'grasp', 'stage': 'close', 'reached': True, 't_start_s': 0.2}],
        'controller': {'rate_hz': 1000.0, 'step_us_p50': 210.5, 'step_us_p99': 480.0},
        'camera': {'hz': 15.0}, 'tracking': {'ms_p50': 5.5, 'ms_p95': 9.25},
        'mllm': {'backend': 'oracle', 'model': 'resem3d-oracle', 'total_calls': 4,
                 'calls': {'plan': 1, 'extract': 3}},
        'from_oracle': True, 'failed_step': None, 'segmenter': 'sim',
    }


def test_recorder_writes_video_bag_and_report(tmp_path):
    from rosbags.highlevel import AnyReader
    from resem3d.record import ConstraintOverlay, Recorder
    from resem3d.record.ros_messages import make_typestore

    recorder = Recorder(tmp_path / 'run-1', {'task': 'lab_pour_beaker', 'seed': 2,
                                             'instruction': 'pour it', 'camera_hz': 15.0})
    recorder.plan({'subtasks': [{'name': 'grasp', 'goal': 'hold the flask',
                                 'program': {'stages': [{'name': 'reach'}]}},
                                {'name': 'pour', 'goal': 'tilt', 'program': None}],
                   'model_latency_s': {'plan': 0.004, 'extract': 0.006}})
    recorder.image('set-of-marks', image(2), caption='what the model saw')
    recorder.event({'kind': 'stage', 'subtask': 'grasp', 'stage': 'reach', 't_start_s': 0.0})
    for k in range(400):                                   # 1 kHz for 0.4 s
        recorder.joint_state(k / 1000.0, np.zeros(9))
    for i in range(6):
        reach = ConstraintOverlay('reach', (0.05, 0.0, 0.3), (0.1, 0.05, 0.0),
                                  residual=0.1 / (i + 1), tolerance=0.01, unit='m')
        recorder.frame(fake_frame(i), {'subtask': 'grasp', 'stage': 'reach',
                                       'constraints': [reach],
                                       'tracks': {'flask': {'T_base_obj': np.eye(4)}}})
    files = recorder.finish(run_metrics())
    assert set(files) == {'video', 'mcap', 'report'} and recorder.errors == []

    assert video_frames(files['video']) == 6
    with AnyReader([Path(files['mcap'])], default_typestore=make_typestore()) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts == {'/tf_static': 1, '/camera/camera/color/image_raw': 2,      # 5 Hz of 15 Hz
                      '/camera/camera/aligned_depth_to_color/image_raw': 2,
                      '/camera/camera/color/camera_info': 2, '/perception/cloud': 2, '/tf': 6,
                      '/resem3d/constraints': 6, '/resem3d/residuals': 6,
                      '/joint_states': 40}

    text = Path(files['report']).read_text(encoding='utf-8')
    assert 'id="oracle-banner"' in text and 'SUCCESS' in text and 'pour it' in text
    assert 'grasp</b> &mdash; hold the flask <span class="outcome">[done (2 stage(s))]' in text
    assert '[not reached]' in text and '&quot;reach&quot;' in text
    assert 'residuals [m]' in text and 'grasp/reach' in text and text.count('<svg') == 1
    assert '210.5 us' in text and '9.25 ms' in text and '0.010 s' in text
    assert 'src="video.mp4"' in text and 'what the model saw' in text
    assert 'segmenter' in text


def test_recorder_keeps_going_when_one_output_fails(tmp_path):
    from resem3d.record import Recorder

    recorder = Recorder(tmp_path / 'run-2', {'camera_hz': 15.0})
    for i in range(3):
        recorder.frame(fake_frame(i, width=63, height=47))  # odd size: no video possible
    recorder.frame(object())                                 # not a frame: skipped
    files = recorder.finish({'success': False, 'reason': 'dropped the flask'})
    assert set(files) == {'mcap', 'report'}
    assert any(e.startswith('video: ValueError') for e in recorder.errors)
    assert any(e.startswith('frame skipped') for e in recorder.errors)
    text = Path(files['report']).read_text(encoding='utf-8')
    assert 'FAILURE' in text and 'dropped the flask' in text and 'video: ValueError' in text


def video_frames(path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count
