"""Headless OpenGL selection for MuJoCo rendering.

MuJoCo's Python bindings choose their OpenGL backend once, when ``mujoco`` is first imported,
from the ``MUJOCO_GL`` environment variable (PyOpenGL likewise reads ``PYOPENGL_PLATFORM`` when it
is first imported). Every module of this package that imports ``mujoco`` therefore calls
:func:`configure_headless_gl` *before* ``import mujoco``, so that rendering works on machines
without a display (OSMesa by default, software rendering; set ``MUJOCO_GL=egl`` for a GPU).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings

DEFAULT_BACKEND = 'osmesa'
# MUJOCO_GL values that need PyOpenGL pointed at the same platform.
_PYOPENGL_PLATFORM = {'osmesa': 'osmesa', 'egl': 'egl'}
_warned_late_import = False


def configure_headless_gl(default: str = DEFAULT_BACKEND) -> str:
    """Set ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM``) for headless rendering.

    An existing non-empty ``MUJOCO_GL`` is respected; otherwise ``default`` is used. For the
    ``osmesa`` and ``egl`` backends ``PYOPENGL_PLATFORM`` is set to the same platform (a
    conflicting value is replaced, since MuJoCo would refuse it anyway). Call this before the
    first ``import mujoco``; if ``mujoco`` is already imported with another backend, a
    :class:`RuntimeWarning` says so once (the backend can no longer change in this process).

    Args:
        default: Backend used when ``MUJOCO_GL`` is unset or empty (``osmesa``, ``egl``,
            ``glfw``...).

    Returns:
        The backend now named by ``MUJOCO_GL`` (lower case).
    """
    backend = os.environ.get('MUJOCO_GL', '').strip().lower() or default.strip().lower()
    os.environ['MUJOCO_GL'] = backend
    platform = _PYOPENGL_PLATFORM.get(backend)
    if platform is not None:
        current = os.environ.get('PYOPENGL_PLATFORM', '').strip().lower()
        if current and current != platform:
            warnings.warn(f'PYOPENGL_PLATFORM={current!r} conflicts with MUJOCO_GL={backend!r}; '
                          f'setting PYOPENGL_PLATFORM={platform!r}', RuntimeWarning, stacklevel=2)
        os.environ['PYOPENGL_PLATFORM'] = platform
    if backend == 'osmesa':
        _preload_triton()
    global _warned_late_import
    loaded = _loaded_mujoco_backend()
    if loaded is not None and loaded != backend and not _warned_late_import:
        _warned_late_import = True
        warnings.warn(f'mujoco was imported before configure_headless_gl with MUJOCO_GL='
                      f'{loaded or "(unset)"!r}; rendering keeps that backend, not {backend!r}',
                      RuntimeWarning, stacklevel=2)
    return backend


def _loaded_mujoco_backend() -> str | None:
    """The ``MUJOCO_GL`` value the already-imported mujoco chose, or None if not imported."""
    module = sys.modules.get('mujoco.rendering.classic.gl_context')
    if module is None:
        return None
    return str(getattr(module, '_MUJOCO_GL', ''))


def _preload_triton() -> None:
    """Import triton (if installed) before OSMesa is loaded.

    OSMesa's software rasteriser (llvmpipe) and triton (imported by torch/torchvision, e.g. for
    segment-anything) each load their own LLVM. Whichever comes second crashes the process with
    a segmentation fault when triton is loaded after OSMesa; the other order works. Loading
    triton here, before ``import mujoco``, makes a process that renders and then uses torch safe.
    """
    if 'triton' in sys.modules or importlib.util.find_spec('triton') is None:
        return
    try:
        importlib.import_module('triton')
    except Exception:  # noqa: BLE001 (a broken triton must not stop rendering; torch reports it)
        pass
