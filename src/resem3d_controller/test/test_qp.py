import numpy as np
import pytest
import qpsolvers

from resem3d_controller import VelocityQp
from resem3d_controller.qp import INFINITY


def _random_problem(rng, n, k):
    M = rng.normal(size=(n + 3, n))
    H = M.T @ M + 1e-2 * np.eye(n)
    g = rng.normal(size=n)
    lb = -rng.uniform(0.2, 1.0, n)
    ub = rng.uniform(0.2, 1.0, n)
    A = rng.normal(size=(k, n))
    lo = rng.uniform(-2.0, 0.5, k)                 # some rows infeasible with dq = 0
    hi = np.where(rng.random(k) < 0.5, np.inf, lo + rng.uniform(0.0, 1.0, k))
    return H, g, lb, ub, A, lo, hi


def _reference(P, q, A, lower, upper, solver):
    """Solve min 1/2 x'Px + q'x s.t. l <= Ax <= u with another solver (one-sided rows)."""
    finite_u = upper < INFINITY / 2
    finite_l = lower > -INFINITY / 2
    G = np.vstack([A[finite_u], -A[finite_l]])
    h = np.concatenate([upper[finite_u], -lower[finite_l]])
    return qpsolvers.solve_qp(P, q, G=G, h=h, solver=solver, eps_abs=1e-10, eps_rel=0.0) \
        if solver == 'proxqp' else qpsolvers.solve_qp(P, q, G=G, h=h, solver=solver)


@pytest.mark.parametrize('solver', [s for s in ('proxqp', 'daqp')
                                    if s in qpsolvers.available_solvers])
def test_solution_matches_an_independent_solver(solver):
    rng = np.random.default_rng(11)
    n, r = 7, 6
    qp = VelocityQp(n, r, slack_weight=1e3, eps=1e-10, max_iter=20000, polish=True)
    for trial in range(25):
        k = trial % (r + 1)
        H, g, lb, ub, A, lo, hi = _random_problem(rng, n, k)
        ours = qp.solve(H, g, lb, ub, A, lo, hi)
        assert ours.ok, ours.status
        P, q, A_full, l_full, u_full = qp.matrices()
        reference = _reference(P, q, A_full, l_full, u_full, solver)
        assert reference is not None
        np.testing.assert_allclose(ours.dq, reference[:n], atol=1e-6)
        np.testing.assert_allclose(ours.slack, reference[n:n + k], atol=1e-6)


def test_solver_is_set_up_once_and_reused_with_any_number_of_rows():
    rng = np.random.default_rng(5)
    qp = VelocityQp(7, 4, eps=1e-9, max_iter=10000, polish=True)
    solver = qp._solver
    for k in (4, 0, 2, 4, 1):
        H, g, lb, ub, A, lo, hi = _random_problem(rng, 7, k)
        solution = qp.solve(H, g, lb, ub, A, lo, hi)
        assert qp._solver is solver
        assert solution.ok and len(solution.slack) == k
        # Rows left over from an earlier tick must be disabled: compare with a fresh problem.
        fresh = VelocityQp(7, 4, eps=1e-9, max_iter=10000, polish=True).solve(
            H, g, lb, ub, A, lo, hi)
        np.testing.assert_allclose(solution.dq, fresh.dq, atol=1e-6)


def test_box_bounds_are_never_exceeded_even_with_loose_tolerances():
    rng = np.random.default_rng(9)
    qp = VelocityQp(7, 3, eps=1e-2, max_iter=3)
    for _ in range(200):
        H, g, lb, ub, A, lo, hi = _random_problem(rng, 7, 3)
        solution = qp.solve(H, 50 * g, lb, ub, A, lo, hi)
        assert np.all(solution.dq >= lb) and np.all(solution.dq <= ub)


def test_unconstrained_optimum_is_the_newton_step():
    qp = VelocityQp(3, 0, eps=1e-10, max_iter=10000, polish=True)
    H = np.diag([2.0, 4.0, 8.0])
    g = np.array([-2.0, 4.0, -4.0])
    solution = qp.solve(H, g, np.full(3, -10.0), np.full(3, 10.0))
    np.testing.assert_allclose(solution.dq, [1.0, -1.0, 0.5], atol=1e-8)


def test_too_many_rows_is_refused():
    qp = VelocityQp(2, 1)
    with pytest.raises(ValueError, match='exceed the capacity'):
        qp.solve(np.eye(2), np.zeros(2), -np.ones(2), np.ones(2), np.ones((2, 2)),
                 np.zeros(2), np.ones(2))
