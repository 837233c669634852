"""The one EM loop shared by every mixture model.

A model supplies two pure functions bound to its data and prior:

- ``e_step(params) -> (log_resp, objective)``: log responsibilities of shape
  (n_rows, n_components) and the objective (log-likelihood, plus the log prior
  density for a MAP fit) at ``params``;
- ``m_step(resp) -> params``: the parameters maximising the expected
  complete-data objective for responsibilities ``resp``.

Parameters are plain ``dict[str, np.ndarray]`` whose keys are the PyMC
model's variable names. The loop only iterates, records and decides
convergence; restarts, warnings and component ordering live in :func:`fit_em`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import warnings

import numpy as np

__all__ = ["ConvergenceWarning", "EMRun", "fit_em", "run_em"]

Params = dict[str, np.ndarray]


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the objective settled within ``tol``."""


@dataclass(frozen=True)
class EMRun:
    """One EM run from one start.

    ``objective_trace`` and every array in ``history`` have a leading axis of
    length ``n_iter + 1``: entry 0 is the start, entry ``i`` the state after
    ``i`` iterations.
    """

    params: Params
    log_resp: np.ndarray
    objective_trace: np.ndarray
    history: Params
    n_iter: int
    converged: bool

    @property
    def objective(self) -> float:
        return float(self.objective_trace[-1])

    def permuted(self, order: np.ndarray, component_axes: dict[str, int | None]) -> "EMRun":
        """The same run with components relabelled so that new ``j`` is old ``order[j]``.

        A parameter whose axis is None (a tied covariance) has no component
        axis and is left as it is.
        """

        def take(value, axis):
            return value if axis is None else np.take(value, order, axis=axis)

        return EMRun(
            params={k: take(v, component_axes[k]) for k, v in self.params.items()},
            log_resp=self.log_resp[:, order],
            objective_trace=self.objective_trace,
            history={
                k: take(v, None if component_axes[k] is None else component_axes[k] + 1)
                for k, v in self.history.items()
            },
            n_iter=self.n_iter,
            converged=self.converged,
        )


def run_em(
    e_step: Callable[[Params], tuple[np.ndarray, float]],
    m_step: Callable[[np.ndarray], Params],
    start: Params,
    *,
    tol: float,
    max_iter: int,
) -> EMRun:
    """Iterate E- and M-steps from ``start`` until the objective gains less than ``tol``.

    Converged means the last iteration raised the objective by at most ``tol``
    (an absolute change, in nats). ``max_iter=0`` evaluates the start only.
    """
    params = start
    log_resp, objective = e_step(params)
    trace = [objective]
    history = [params]
    converged = False
    for _ in range(max_iter):
        params = m_step(np.exp(log_resp))
        log_resp, new_objective = e_step(params)
        trace.append(new_objective)
        history.append(params)
        if abs(new_objective - objective) <= tol:
            converged = True
            break
        objective = new_objective
    return EMRun(
        params=params,
        log_resp=log_resp,
        objective_trace=np.asarray(trace),
        history={k: np.stack([h[k] for h in history]) for k in start},
        n_iter=len(trace) - 1,
        converged=converged,
    )


def fit_em(
    e_step: Callable[[Params], tuple[np.ndarray, float]],
    m_step: Callable[[np.ndarray], Params],
    starts: Sequence[Params],
    *,
    tol: float,
    max_iter: int,
    order_key: Callable[[Params], np.ndarray],
    component_axes: dict[str, int | None],
) -> tuple[EMRun, tuple[EMRun, ...]]:
    """Run EM from every start; return the best run and all runs, each in canonical order.

    Components are sorted by ``order_key(params)`` (ascending), the same
    ordering constraint the PyMC models impose, so EM's labels match the
    posterior's. One :class:`ConvergenceWarning` is raised if the best run did
    not converge.
    """
    runs = []
    for start in starts:
        run = run_em(e_step, m_step, start, tol=tol, max_iter=max_iter)
        runs.append(run.permuted(np.argsort(order_key(run.params), kind="stable"), component_axes))
    best = max(runs, key=lambda run: run.objective)
    if not best.converged:
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations to tol={tol:g}; "
            "increase max_iter, loosen tol, or try other starts (n_init).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best, tuple(runs)
