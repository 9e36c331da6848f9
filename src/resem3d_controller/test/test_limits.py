import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from resem3d_controller import JointLimits, decelerate, joint_velocity_bounds

N = 7
LIMITS = JointLimits(q_min_rad=np.full(N, -2.0), q_max_rad=np.full(N, 2.0),
                     v_max_rad_s=np.full(N, 1.0), a_max_rad_s2=np.full(N, 5.0), margin_rad=0.05)
DT = 1e-3


def _admissible(limits, q, dq_prev, lower, upper):
    assert np.all(lower <= upper + 1e-15)
    for dq in (lower, upper, 0.5 * (lower + upper)):
        assert np.all(np.abs(dq) <= limits.v_max_rad_s + 1e-12)
        assert np.all(np.abs(dq - dq_prev) <= limits.a_max_rad_s2 * DT + 1e-12)
        q_next = q + dq * DT
        assert np.all(q_next <= np.maximum(limits.q_max_rad - limits.margin_rad, q) + 1e-12)
        assert np.all(q_next >= np.minimum(limits.q_min_rad + limits.margin_rad, q) - 1e-12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1.95, 1.95), min_size=N, max_size=N),
       st.lists(st.floats(-1.0, 1.0), min_size=N, max_size=N))
def test_any_velocity_inside_the_bounds_respects_every_limit(q, dq_prev):
    q, dq_prev = np.array(q), np.array(dq_prev)
    # Only states from which stopping before the limit is possible are reachable.
    room_up = np.maximum(LIMITS.q_max_rad - LIMITS.margin_rad - q, 0)
    room_down = np.maximum(q - LIMITS.q_min_rad - LIMITS.margin_rad, 0)
    dq_prev = np.clip(dq_prev, -np.sqrt(LIMITS.a_max_rad_s2 * room_down),
                      np.sqrt(LIMITS.a_max_rad_s2 * room_up))
    lower, upper = joint_velocity_bounds(LIMITS, q, dq_prev, DT)
    _admissible(LIMITS, q, dq_prev, lower, upper)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1.9, 1.9), min_size=N, max_size=N),
       st.lists(st.floats(-1.0, 1.0), min_size=N, max_size=N))
def test_pushing_into_a_limit_at_full_speed_stops_before_it(q0, direction):
    """Command the upper bound (the most aggressive admissible velocity) for 2 s."""
    q, dq = np.array(q0), np.zeros(N)
    sign = np.sign(np.array(direction) + 1e-9)
    for _ in range(2000):
        lower, upper = joint_velocity_bounds(LIMITS, q, dq, DT)
        _admissible(LIMITS, q, dq, lower, upper)
        dq = np.where(sign > 0, upper, lower)
        q = q + dq * DT
        assert np.all(q <= LIMITS.q_max_rad) and np.all(q >= LIMITS.q_min_rad)


def test_outside_the_margin_the_joint_is_braked_and_never_pushed_further():
    q = np.full(N, 1.99)          # inside the 0.05 margin already
    dq_prev = np.full(N, 0.2)     # still moving towards the limit
    lower, upper = joint_velocity_bounds(LIMITS, q, dq_prev, DT)
    np.testing.assert_allclose(upper, 0.2 - 5.0 * DT)   # decelerating at a_max
    assert np.all(lower <= upper)


def test_decelerate_reaches_zero_within_the_acceleration_limit():
    dq = np.array([1.0, -0.5, 0.0, 0.003, -0.003, 0.7, -1.0])
    for _ in range(1000):
        new = decelerate(dq, LIMITS.a_max_rad_s2, DT)
        assert np.all(np.abs(new - dq) <= LIMITS.a_max_rad_s2 * DT + 1e-15)
        assert np.all(np.abs(new) <= np.abs(dq))
        dq = new
    np.testing.assert_array_equal(dq, 0.0)
