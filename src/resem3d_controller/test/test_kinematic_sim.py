import numpy as np

from resem3d_controller import JointLimits, KinematicArm

LIMITS = JointLimits(np.full(2, -1.0), np.full(2, 1.0), np.full(2, 1.0), np.full(2, 10.0), 0.0)


def test_integrates_commands_exactly():
    arm = KinematicArm(np.zeros(2), LIMITS, 0.001)
    for _ in range(100):
        arm.apply(np.array([0.005, -0.005]))
    np.testing.assert_allclose(arm.q_rad, [0.0005, -0.0005])
    assert arm.t_s == 0.1 or abs(arm.t_s - 0.1) < 1e-12
    assert arm.violations.total == 0


def test_audits_each_kind_of_limit():
    arm = KinematicArm(np.array([0.9995, 0.0]), LIMITS, 0.001)
    arm.apply(np.array([0.005, 0.0]))           # accel 5 rad/s^2: fine
    assert arm.violations.total == 0
    arm.apply(np.array([0.5, 0.0]))             # jump of 0.495 rad/s in 1 ms: acceleration
    assert arm.violations.acceleration == 1
    assert arm.violations.position == 1         # 0.99955 + 0.0005 > 1
    arm.apply(np.array([0.505, 2.0]))           # joint 2 over its velocity limit (and accel)
    assert arm.violations.velocity == 1
    assert arm.violations.total == 2 + 1 + 2
