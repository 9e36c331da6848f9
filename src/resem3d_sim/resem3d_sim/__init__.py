"""resem3d_sim: the embedded MuJoCo world of resem3d (robot, scenes, RGB-D camera, tasks).

Built in code with MuJoCo's MjSpec; stands in for the Franka arm and the RealSense camera.
"""

from .errors import RobotDescriptionError, SimError, SimInputError
from .gl import configure_headless_gl
from .robot import ArmServoGains, GripperParams, PandaConfig, build_panda_spec, panda_urdf_path
from .world import (Q_HOME_RAD, NotAFreeBodyError, SimulationDivergedError, UnknownBodyError,
                    World, WorldBuildError, WorldConfig)

__all__ = [
    'ArmServoGains', 'GripperParams', 'NotAFreeBodyError', 'PandaConfig', 'Q_HOME_RAD',
    'RobotDescriptionError', 'SimError', 'SimInputError', 'SimulationDivergedError',
    'UnknownBodyError', 'World', 'WorldBuildError', 'WorldConfig', 'build_panda_spec',
    'configure_headless_gl', 'panda_urdf_path',
]
