"""Render an :class:`~resem3d_sim.camera.RgbdCamera` in a second process, beside the physics.

Software rendering (OSMesa) of colour, depth and part masks at 640x480 costs tens of
milliseconds per frame, as long as ~40 physics-and-control steps. :class:`RenderWorker` moves it
to a child process so that, on a machine with two cores, the camera's 15 Hz no longer slows
the 1 kHz loop: :meth:`RenderWorker.submit` snapshots the state (joint positions, mocap poses,
time) and returns at once; the child renders that state while the simulation goes on; the
finished frame is collected with :meth:`RenderWorker.poll` (or :meth:`RenderWorker.wait`).
A frame is therefore delivered one render time after the state it shows, like a real camera's
latency, and its ``stamp_s`` is the simulated time of that state.

The frames travel through shared memory (no pickling of images); one frame is in flight at a
time. The child is started with the ``spawn`` method (a fresh interpreter: forking a process
that holds an OpenGL context is not safe) and renders with a single llvmpipe thread, leaving
the other core to the physics.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from .camera import CameraError, CameraIntrinsics, RgbdFrame
from .gl import configure_headless_gl

configure_headless_gl()

import mujoco  # noqa: E402  (after configure_headless_gl)

START_TIMEOUT_S = 60.0        # the child imports mujoco and compiles nothing: seconds at most


class RenderWorkerError(CameraError):
    """The render process failed to start, died, or reported an error."""


@dataclass(frozen=True)
class _Layout:
    """Shapes of the shared image buffers."""

    height: int
    width: int

    def shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        h, w = self.height, self.width
        return {'color': ((h, w, 3), np.dtype(np.uint8)),
                'depth_m': ((h, w), np.dtype(np.float32)),
                'part_mask': ((h, w), np.dtype(np.int32))}


class RenderWorker:
    """An RGB-D camera of ``model`` rendered in a child process.

    Args:
        model: The compiled model (sent once to the child, which keeps its own copy).
        name: Camera name in the model.
        intrinsics: As :class:`~resem3d_sim.camera.RgbdCamera` (None: the model's camera).
        **camera_kwargs: Other keyword arguments of :class:`~resem3d_sim.camera.RgbdCamera`
            (``noise``, ``base_body``, ``shadows``...); they must be picklable.

    Raises:
        RenderWorkerError: If the child does not start or cannot create the camera.

    Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, model: mujoco.MjModel, name: str,
                 intrinsics: CameraIntrinsics | None = None, **camera_kwargs: Any) -> None:
        self._closed = True
        context = mp.get_context('spawn')
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_child_main, name=f'resem3d-render-{name}', daemon=True,
            args=(child_conn, pickle.dumps(model), name, intrinsics, camera_kwargs))
        self._process.start()
        child_conn.close()
        reply = self._receive(START_TIMEOUT_S, 'start')
        if reply[0] != 'ready':
            self._process.join(timeout=5.0)
            raise RenderWorkerError(f'render worker for camera {name!r}: {reply[1]}')
        _, height, width, shm_names, labels, intrinsics_out, T_base_cam = reply
        self._layout = _Layout(height, width)
        self._shm = {key: shared_memory.SharedMemory(name=shm_name)
                     for key, shm_name in shm_names.items()}
        self._views = {key: np.ndarray(shape, dtype, buffer=self._shm[key].buf)
                       for key, (shape, dtype) in self._layout.shapes().items()}
        self._labels: tuple[str, ...] = labels
        self._intrinsics: CameraIntrinsics = intrinsics_out
        self._T_base_cam = T_base_cam
        self._in_flight = False
        self._closed = False
        self.render_ms: list[float] = []      # child-side render time of every frame [ms]

    # --- state -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a submitted frame has not been collected."""
        return self._in_flight

    @property
    def labels(self) -> tuple[str, ...]:
        """The label table of ``part_mask`` (index 0 is the empty label)."""
        return self._labels

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """The camera's intrinsics."""
        return self._intrinsics

    # --- frames ----------------------------------------------------------------------------

    def submit(self, data: mujoco.MjData, model: mujoco.MjModel | None = None) -> bool:
        """Start rendering the state of ``data`` (positions, mocap poses, time), and with
        ``model`` the poses of its welded bodies too (:meth:`World.move_welded_body` changes
        them).

        Returns:
            False (and renders nothing) if the previous frame is still in flight.

        Raises:
            RenderWorkerError: If the worker is closed or died.
        """
        self._check_open()
        if self._in_flight:
            return False
        bodies = None if model is None else (model.body_pos.copy(), model.body_quat.copy())
        state = (data.qpos.copy(), data.mocap_pos.copy(), data.mocap_quat.copy(),
                 float(data.time), bodies)
        try:
            self._conn.send(('render', state))
        except (BrokenPipeError, OSError) as error:
            raise RenderWorkerError(f'render worker died: {error}') from None
        self._in_flight = True
        return True

    def poll(self) -> RgbdFrame | None:
        """The submitted frame if it is finished, else None (never blocks)."""
        self._check_open()
        if not self._in_flight or not self._conn.poll():
            return None
        return self._collect(self._receive(0.0, 'render'))

    def wait(self, timeout_s: float = 10.0) -> RgbdFrame:
        """Block until the submitted frame is finished and return it.

        Raises:
            RenderWorkerError: If nothing is in flight, on timeout, or if rendering failed.
        """
        self._check_open()
        if not self._in_flight:
            raise RenderWorkerError('wait: no frame was submitted')
        return self._collect(self._receive(timeout_s, 'render'))

    def render(self, data: mujoco.MjData, timeout_s: float = 10.0,
               model: mujoco.MjModel | None = None) -> RgbdFrame:
        """Render the state of ``data`` (and ``model``'s welded bodies, as :meth:`submit`)
        and wait for the frame (synchronous use)."""
        if self._in_flight:
            self.wait(timeout_s)
        self.submit(data, model)
        return self.wait(timeout_s)

    def _collect(self, reply: tuple) -> RgbdFrame:
        self._in_flight = False
        if reply[0] != 'frame':
            raise RenderWorkerError(f'render failed: {reply[1]}')
        _, stamp_s, render_ms = reply
        self.render_ms.append(render_ms)
        return RgbdFrame(color=self._views['color'].copy(),
                         depth_m=self._views['depth_m'].copy(),
                         part_mask=self._views['part_mask'].copy(), labels=self._labels,
                         T_base_cam=self._T_base_cam.copy(), intrinsics=self._intrinsics,
                         stamp_s=stamp_s)

    def _receive(self, timeout_s: float, what: str) -> tuple:
        try:
            if not self._conn.poll(timeout_s):
                raise RenderWorkerError(f'render worker: no answer to {what} within '
                                        f'{timeout_s:g} s')
            return self._conn.recv()
        except (EOFError, OSError) as error:
            raise RenderWorkerError(f'render worker died during {what}: '
                                    f'{error or type(error).__name__}') from None

    def _check_open(self) -> None:
        if self._closed:
            raise RenderWorkerError('render worker is closed')
        if not self._process.is_alive():
            raise RenderWorkerError(f'render worker died (exit code {self._process.exitcode})')

    # --- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the child and free the shared memory (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.send(('stop', None))
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5.0)
        for view_key in list(self._views):
            del self._views[view_key]
        for shm in self._shm.values():
            shm.close()
        self._conn.close()

    def __enter__(self) -> RenderWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown: nothing left to report to)
            pass


def _child_main(conn: Any, model_bytes: bytes, name: str,
                intrinsics: CameraIntrinsics | None, camera_kwargs: dict) -> None:
    """Body of the render process: build the camera, then render on request."""
    import os
    # One llvmpipe thread: the other core belongs to the physics. (The variable is read when
    # OSMesa loads, so only a fresh process can set it; this one is spawned.)
    os.environ.setdefault('LP_NUM_THREADS', '1')
    from .camera import RgbdCamera
    shms: list[shared_memory.SharedMemory] = []
    try:
        model = pickle.loads(model_bytes)
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        camera = RgbdCamera(model, data, name, intrinsics, **camera_kwargs)
        layout = _Layout(camera.intrinsics.height, camera.intrinsics.width)
        views = {}
        for key, (shape, dtype) in layout.shapes().items():
            shm = shared_memory.SharedMemory(create=True,
                                             size=int(np.prod(shape)) * dtype.itemsize)
            shms.append(shm)
            views[key] = np.ndarray(shape, dtype, buffer=shm.buf)
        conn.send(('ready', layout.height, layout.width,
                   {key: shm.name for key, shm in zip(views, shms)}, camera.labels,
                   camera.intrinsics, camera.T_base_cam()))
    except Exception as error:  # noqa: BLE001 (reported to the parent as one line)
        conn.send(('error', f'{type(error).__name__}: {error}'))
        for shm in shms:
            shm.close()
            shm.unlink()
        return
    try:
        while True:
            kind, state = conn.recv()
            if kind == 'stop':
                break
            try:
                qpos, mocap_pos, mocap_quat, time_s, bodies = state
                if bodies is not None:
                    model.body_pos[:], model.body_quat[:] = bodies
                data.qpos[:] = qpos
                data.mocap_pos[:] = mocap_pos
                data.mocap_quat[:] = mocap_quat
                data.time = time_s
                mujoco.mj_forward(model, data)
                start = time.perf_counter()
                frame = camera.render()
                render_ms = (time.perf_counter() - start) * 1e3
                np.copyto(views['color'], frame.color)
                np.copyto(views['depth_m'], frame.depth_m)
                np.copyto(views['part_mask'], frame.part_mask)
                conn.send(('frame', frame.stamp_s, render_ms))
            except Exception as error:  # noqa: BLE001 (reported to the parent as one line)
                conn.send(('error', f'{type(error).__name__}: {error}'))
    except (EOFError, OSError):
        pass                                  # the parent went away
    finally:
        camera.close()
        for key in list(views):
            del views[key]
        for shm in shms:
            shm.close()
            shm.unlink()
