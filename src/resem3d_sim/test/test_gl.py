import os
import subprocess
import sys
import warnings

import pytest

from resem3d_sim.gl import configure_headless_gl


def test_defaults_to_osmesa_and_points_pyopengl_at_it(monkeypatch):
    monkeypatch.delenv('MUJOCO_GL', raising=False)
    monkeypatch.delenv('PYOPENGL_PLATFORM', raising=False)
    assert configure_headless_gl() == 'osmesa'
    assert os.environ['MUJOCO_GL'] == 'osmesa'
    assert os.environ['PYOPENGL_PLATFORM'] == 'osmesa'


def test_respects_an_existing_choice(monkeypatch):
    monkeypatch.setenv('MUJOCO_GL', 'EGL')
    monkeypatch.delenv('PYOPENGL_PLATFORM', raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')      # mujoco is already loaded with osmesa here
        assert configure_headless_gl() == 'egl'
    assert os.environ['PYOPENGL_PLATFORM'] == 'egl'
    monkeypatch.setenv('MUJOCO_GL', 'glfw')
    monkeypatch.setenv('PYOPENGL_PLATFORM', 'x11')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert configure_headless_gl() == 'glfw'
    assert os.environ['PYOPENGL_PLATFORM'] == 'x11'      # untouched for a windowed backend


def test_conflicting_pyopengl_platform_is_replaced_with_a_warning(monkeypatch):
    monkeypatch.setenv('MUJOCO_GL', 'osmesa')
    monkeypatch.setenv('PYOPENGL_PLATFORM', 'egl')
    with pytest.warns(RuntimeWarning, match='PYOPENGL_PLATFORM'):
        configure_headless_gl()
    assert os.environ['PYOPENGL_PLATFORM'] == 'osmesa'


RENDER_THEN_TORCHVISION = '''
import numpy as np
import resem3d_sim
from resem3d_sim.camera import CameraIntrinsics, RgbdCamera, add_camera, look_at
import mujoco
spec = mujoco.MjSpec()
spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.1, 0.1, 0.1])
add_camera(spec, 'cam', look_at((1.0, 0.0, 0.5), (0.0, 0.0, 0.0)), CameraIntrinsics(64, 48, 60, 60, 31.5, 23.5))
model = spec.compile()
data = mujoco.MjData(model)
mujoco.mj_forward(model, data)
with RgbdCamera(model, data, 'cam') as camera:
    frame = camera.render()
import torchvision
print('rendered', frame.depth_m.shape)
'''


def test_a_process_can_render_with_osmesa_and_then_load_torchvision():
    # triton (pulled in by torchvision) crashes a process that loaded OSMesa before it;
    # configure_headless_gl preloads it. Runs in a fresh process: the order is per process.
    pytest.importorskip('torchvision', reason='torchvision not installed (perception extra)')
    env = {k: v for k, v in os.environ.items() if k not in ('MUJOCO_GL', 'PYOPENGL_PLATFORM')}
    result = subprocess.run([sys.executable, '-c', RENDER_THEN_TORCHVISION], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'rendered (48, 64)' in result.stdout
