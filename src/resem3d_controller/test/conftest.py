"""Shared fixtures: building the Panda model takes ~0.3 s, so tests share one per session."""

from pathlib import Path

import numpy as np
import pytest

from resem3d_controller import ControllerConfig, JointVelocityController, RobotModel

REPO_ROOT = Path(__file__).resolve().parents[3]
Q_HOME_RAD = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


@pytest.fixture(scope='session')
def robot() -> RobotModel:
    return RobotModel(ControllerConfig())


@pytest.fixture()
def controller(robot) -> JointVelocityController:
    return JointVelocityController(ControllerConfig(), robot=robot)


@pytest.fixture()
def q_home() -> np.ndarray:
    return Q_HOME_RAD.copy()
