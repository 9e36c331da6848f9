"""resem3d_reasoning: hierarchical reasoning of resem3d (planning, grounding, constraint programs).

The reasoning node (``node``, the only module that imports ROS) is a thin adapter over
``task_runner`` (one instruction at a time in a worker thread), ``execution`` (a program
followed through its residuals), ``ros_observation`` (perception's Observe response <->
observations and grounded regions) and ``settings`` (``reasoning.yaml`` and the model client).

Every model call goes through one ``MllmClient`` interface (``client``): the OpenAI-compatible
backend, the replay of a recorded transcript, or the simulator oracle. Kept light: the client,
transcript, backend registry and errors are imported here; the rest of the public API (engine,
planning, grounding, oracle, replies, monitor, steps) is imported on first use of one of its
names (``resem3d_reasoning.plan_task`` imports ``.planning`` then), so that importing the
package pulls in neither perception nor the simulator, and the openai library only when an
OpenAI backend is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .backends import known_backends, make_client, register_backend
from .client import (INPUT_MARKER, ORACLE_FINGERPRINT, SCENE_HEADER, STEP_HEADER, ImageInput,
                     MllmClient, MllmRequest, MllmResponse, RecordingClient, input_block,
                     parse_input_block)
from .errors import (ConfigError, InputBlockError, MllmError, MllmRateLimitError,
                     MllmTimeoutError, OracleError, ReasoningError, ReplayMissError, ReplyError,
                     TranscriptError)
from .transcript import Exchange, Transcript

if TYPE_CHECKING:       # what the lazy names resolve to, for type checkers and IDEs
    from .engine import (EngineConfig, EngineRun, ReasoningEngine, ReasoningFailure,
                         StepStats, SubtaskResult)
    from .grounding import (GroundedRegion, GroundingStore, Observation, observe_frame,
                            system_region)
    from .monitor import (MonitorAction, MonitorConfig, MonitorDecision, SubtaskMonitor,
                          drive)
    from .oracle import ORACLE_MODEL, OracleClient, scene_name
    from .oracle_server import OracleServer
    from .planning import PlanResult, observe_task, plan_observation, plan_task
    from .replies import (FlowChoice, PlanReply, RegionPose, SubtaskSpec, Workspace,
                          extract_json, program_reply_schema, reply_schema)
    from .steps import STEP_NAMES, system_prompt


#: Lazily exported name -> the submodule that defines it.
_LAZY = {
    **dict.fromkeys(('EngineConfig', 'EngineRun', 'ReasoningEngine', 'ReasoningFailure',
                     'StepStats', 'SubtaskResult'), 'engine'),
    **dict.fromkeys(('PlanResult', 'observe_task', 'plan_observation', 'plan_task'),
                   'planning'),
    **dict.fromkeys(('GroundedRegion', 'GroundingStore', 'Observation', 'observe_frame',
                     'system_region'), 'grounding'),
    **dict.fromkeys(('ORACLE_MODEL', 'OracleClient', 'scene_name'), 'oracle'),
    'OracleServer': 'oracle_server',
    **dict.fromkeys(('FlowChoice', 'PlanReply', 'RegionPose', 'SubtaskSpec', 'Workspace',
                     'extract_json', 'program_reply_schema', 'reply_schema'), 'replies'),
    **dict.fromkeys(('MonitorAction', 'MonitorConfig', 'MonitorDecision', 'SubtaskMonitor',
                     'drive'), 'monitor'),
    **dict.fromkeys(('STEP_NAMES', 'system_prompt'), 'steps'),
}

__all__ = [
    'ConfigError', 'EngineConfig', 'EngineRun', 'Exchange', 'FlowChoice', 'GroundedRegion',
    'GroundingStore', 'INPUT_MARKER', 'ImageInput', 'InputBlockError', 'MllmClient', 'MllmError',
    'MllmRateLimitError', 'MllmRequest', 'MllmResponse', 'MllmTimeoutError', 'MonitorAction',
    'MonitorConfig', 'MonitorDecision', 'ORACLE_FINGERPRINT', 'ORACLE_MODEL', 'Observation',
    'OracleClient', 'OracleError', 'OracleServer', 'PlanReply', 'PlanResult', 'ReasoningEngine',
    'ReasoningError', 'ReasoningFailure', 'RecordingClient', 'RegionPose', 'ReplayMissError',
    'ReplyError', 'SCENE_HEADER', 'STEP_HEADER', 'STEP_NAMES', 'StepStats', 'SubtaskMonitor',
    'SubtaskResult', 'SubtaskSpec', 'Transcript', 'TranscriptError', 'Workspace', 'drive',
    'extract_json', 'input_block', 'known_backends', 'make_client', 'observe_frame',
    'observe_task', 'parse_input_block', 'plan_observation', 'plan_task', 'program_reply_schema',
    'register_backend',
    'reply_schema', 'scene_name', 'system_prompt', 'system_region',
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines a lazily exported ``name`` and return the value."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'.{module}', __name__), name)
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
