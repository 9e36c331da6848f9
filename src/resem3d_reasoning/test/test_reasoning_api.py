"""The package's public API: light eager exports, lazy ones on first use, the oracle backend
built without importing its module first."""

import subprocess
import sys

import pytest

import resem3d_reasoning


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_is_light_and_oracle_backend_is_built_lazily():
    out = _python(
        'import sys, resem3d_reasoning as r\n'
        'heavy = ("resem3d_perception", "resem3d_sim", "mujoco", "openai", "cv2",\n'
        '         "resem3d_reasoning.engine", "resem3d_reasoning.oracle")\n'
        'print(sorted(m for m in heavy if m in sys.modules))\n'
        'print("oracle" in r.known_backends())\n'
        'client = r.make_client({"backend": "oracle"})\n'
        'print(type(client).__name__, client.model, "resem3d_reasoning.oracle" in sys.modules)\n')
    assert out.splitlines() == ['[]', 'True', 'OracleClient resem3d-oracle True']


@pytest.mark.parametrize('name,module', [
    ('ReasoningEngine', 'engine'), ('EngineConfig', 'engine'), ('ReasoningFailure', 'engine'),
    ('PlanResult', 'planning'), ('plan_task', 'planning'), ('observe_task', 'planning'),
    ('OracleClient', 'oracle'), ('GroundedRegion', 'grounding'),
    ('GroundingStore', 'grounding'), ('SubtaskMonitor', 'monitor'),
    ('MonitorConfig', 'monitor'), ('drive', 'monitor'), ('extract_json', 'replies'),
    ('reply_schema', 'replies'), ('system_prompt', 'steps'), ('OracleServer', 'oracle_server'),
])
def test_lazy_exports_resolve_to_their_modules(name, module):
    value = getattr(resem3d_reasoning, name)
    assert value is getattr(__import__(f'resem3d_reasoning.{module}', fromlist=[name]), name)
    assert name in resem3d_reasoning.__all__ and name in dir(resem3d_reasoning)


def test_every_exported_name_resolves_and_unknown_names_fail():
    assert set(resem3d_reasoning._LAZY) <= set(resem3d_reasoning.__all__)
    assert len(set(resem3d_reasoning.__all__)) == len(resem3d_reasoning.__all__)
    for name in resem3d_reasoning.__all__:
        assert getattr(resem3d_reasoning, name) is not None, name
    from resem3d_reasoning import ReasoningEngine, make_client   # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        resem3d_reasoning.nope  # noqa: B018


def test_oracle_backend_takes_no_options_and_can_be_replaced():
    from resem3d_reasoning import ConfigError, make_client, register_backend
    with pytest.raises(ConfigError, match='backend oracle takes no options'):
        make_client({'backend': 'oracle', 'oracle': {'model': 'x'}})
    with pytest.raises(ConfigError, match="backend 'oracle' is already registered"):
        register_backend('oracle', lambda options: None)
