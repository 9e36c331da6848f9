"""The velocity QP, built once with a fixed sparsity pattern and updated in place every tick.

Decision variables x = [dq (n); s (r)]: joint velocities and one free slack per general row.

    minimise   1/2 dq^T H dq + g^T dq + 1/2 slack_weight * |s|^2
    subject to lb <= dq <= ub                      (n box rows: joint limits)
               l_k <= a_k^T dq + s_k <= u_k        (r general rows: hard constraints, collisions)

The slack keeps the problem feasible whatever the rows demand (an infeasible QP would leave the
arm without a command); with a large weight it is zero whenever the rows can be met. Joint limits
have no slack: they are always feasible (see :mod:`.limits`) and the solution is clipped to them.

Unused general rows keep their place in the pattern with zero coefficients and infinite bounds,
so OSQP is set up once and every tick only updates values (P, q, A, l, u) and warm-starts.
"""

from __future__ import annotations

import math
from typing import NamedTuple


import numpy as np
import osqp
import scipy.sparse as sp

# OSQP status values that carry a usable primal solution.
_USABLE = {'solved', 'solved inaccurate', 'maximum iterations reached'}
INFINITY = 1e30


class QpSolution(NamedTuple):
    """Result of one QP solve."""

    dq: np.ndarray        # (n,) joint velocities [rad/s], clipped to the box bounds
    slack: np.ndarray     # (r,) slack of the general rows
    status: str           # OSQP status string
    iterations: int
    ok: bool              # a usable, finite solution was found


class VelocityQp:
    """OSQP problem of fixed size for ``n`` joints and ``r`` general rows.

    Args:
        n: Number of joints.
        r: Capacity of general (hard-constraint and collision) rows.
        slack_weight: Penalty on each slack.
        eps: OSQP absolute and relative tolerance.
        max_iter: OSQP iteration cap.
    """

    def __init__(self, n: int, r: int, slack_weight: float = 1e4, eps: float = 1e-5,
                 max_iter: int = 200, polish: bool = False) -> None:
        self.n, self.r = n, r
        self.slack_weight = slack_weight
        N = n + r
        # P: dense upper triangle of the joint block, diagonal on the slacks (CSC, column order).
        rows, cols = [], []
        for j in range(n):
            rows += list(range(j + 1))
            cols += [j] * (j + 1)
        self._P_rows = np.asarray(rows)
        self._P_cols = np.asarray(cols)
        P_rows = np.concatenate([self._P_rows, np.arange(n, N)])
        P_cols = np.concatenate([self._P_cols, np.arange(n, N)])
        self._Px = np.concatenate([np.ones(len(rows)), np.full(r, slack_weight)])
        self._P_flat = self._P_rows * n + self._P_cols     # indices into H.ravel()
        self._Px_joint = self._Px[:len(rows)]              # view: written in place each tick
        P = sp.csc_matrix((self._Px, (P_rows, P_cols)), shape=(N, N))
        # A: column j < n has the box entry (row j) then every general row n..n+r-1;
        # slack column n+k has one entry at row n+k.
        A_rows = np.concatenate([np.concatenate([[j], np.arange(n, N)]) for j in range(n)]
                                + [np.arange(n, N)])
        A_cols = np.concatenate([np.full(r + 1, j) for j in range(n)] + [np.arange(n, N)])
        self._A_block = np.zeros((n, r + 1))       # per joint column: [1, a_0j, ..., a_(r-1)j]
        self._A_block[:, 0] = 1.0
        self._Ax = np.concatenate([self._A_block.ravel(), np.ones(r)])
        A = sp.csc_matrix((np.ones(len(A_rows)), (A_rows, A_cols)), shape=(N, N))
        assert A.nnz == len(self._Ax) and P.nnz == len(self._Px), 'pattern must stay dense'
        self._q = np.zeros(N)
        self._l = np.full(N, -INFINITY)
        self._u = np.full(N, INFINITY)
        self._solver = osqp.OSQP()
        self._solver.setup(P, self._q, A, self._l, self._u, verbose=False, eps_abs=eps,
                           eps_rel=eps, max_iter=max_iter, warm_starting=True, polishing=polish,
                           check_termination=5, adaptive_rho=True)
        # The public OSQP.update/solve wrappers also maintain a derivative cache and build a
        # results namespace (~30 us per tick); at 1 kHz we call the solver object they wrap.
        self._raw = self._solver._solver
        self._H = np.zeros((n, n))
        self._g = np.zeros(n)
        self._rows_used = 0

    def solve(self, H: np.ndarray, g: np.ndarray, lb: np.ndarray, ub: np.ndarray,
              A_rows: np.ndarray | None = None, l_rows: np.ndarray | None = None,
              u_rows: np.ndarray | None = None) -> QpSolution:
        """Solve for joint velocities.

        Args:
            H: Joint-block Hessian (n, n), symmetric positive definite.
            g: Joint-block gradient (n,).
            lb, ub: Box bounds on dq (n,).
            A_rows: General rows (k, n) with k <= r (the rest are disabled).
            l_rows, u_rows: Bounds of the general rows (k,); +-inf allowed.
        """
        n, r = self.n, self.r
        self._H, self._g = H, g
        Px = self._Px
        H.take(self._P_flat, out=self._Px_joint)
        q = self._q
        q[:n] = g
        l, u = self._l, self._u
        l[:n], u[:n] = lb, ub
        k = 0 if A_rows is None else len(A_rows)
        if k > r:
            raise ValueError(f'{k} general rows exceed the capacity {r}')
        block = self._A_block
        if k:
            block[:, 1:k + 1] = A_rows.T
            np.maximum(l_rows, -INFINITY, out=l[n:n + k])
            np.minimum(u_rows, INFINITY, out=u[n:n + k])
        if self._rows_used > k:                    # disable rows used last tick only
            block[:, k + 1:self._rows_used + 1] = 0.0
            l[n + k:n + self._rows_used] = -INFINITY
            u[n + k:n + self._rows_used] = INFINITY
        self._rows_used = k
        Ax = self._Ax
        Ax[:block.size] = block.reshape(-1)
        self._raw.update_data_mat(P_x=Px, P_i=None, A_x=Ax, A_i=None)
        self._raw.update_data_vec(q=q, l=l, u=u)
        self._raw.solve()
        info = self._raw.info
        x = self._raw.solution.x
        dq = x[:n]
        ok = info.status in _USABLE and math.isfinite(np.add.reduce(dq))
        dq = np.minimum(np.maximum(dq, lb), ub) if ok else np.zeros(n)
        return QpSolution(dq, x[n:n + k].copy(), info.status, int(info.iter), ok)

    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense (P, q, A, l, u) of the last solved problem (for checks against other solvers)."""
        n, r = self.n, self.r
        N = n + r
        P = np.zeros((N, N))
        P[:n, :n] = self._H
        P[n:, n:] = np.eye(r) * self.slack_weight
        A = np.zeros((N, N))
        A[:n, :n] = np.eye(n)
        A[n:, :n] = self._A_block[:, 1:].T
        A[n:, n:] = np.eye(r)
        return P, self._q.copy(), A, self._l.copy(), self._u.copy()
