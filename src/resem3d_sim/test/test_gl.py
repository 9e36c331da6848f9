import os
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
