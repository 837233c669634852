"""The one EM loop shared by every mixture model.

A model supplies two pure functions bound to its data and prior:

- ``e_step(params) -> (expected, objective)``: what the M-step needs of the
  posterior over the hidden assignments at ``params`` (the responsibilities,
  or the expected complete-data sufficient statistics they give), and the
  objective (log-likelihood, plus the log prior density for a MAP fit) at
  ``params``;
- ``m_step(expected) -> params``: the parameters maximising the expected
  complete-data objective.

Parameters are plain ``dict[str, np.ndarray]`` whose keys are the PyMC
model's variable names. The loop only iterates, records and decides
convergence; restarts, warnings and component ordering live in :func:`fit_em`.

With ``accelerate=True`` the loop extrapolates along the EM path by SQUAREM
(Varadhan and Roland 2008, Scand. J. Statist. 35, 335-353), step length SqS3,
on the parameters flattened to one vector (:func:`flatten`), and takes one EM
step from the extrapolated point. That step is kept only if the point was valid
and the step's objective is at least that of the plain EM step it would
replace (Varadhan and Roland's back-off); otherwise the loop keeps the plain EM
step, so the objective trace never decreases. A point is invalid when ``e_step`` raises
``ValueError`` (a covariance that is not positive definite) or returns a
non-finite objective (a weight or probability outside its range: weights are
extrapolated on the plane ``sum = 1`` but may leave the simplex). """

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
import warnings

import numpy as np

from .checks import check_bool

__all__ = ["ConvergenceWarning", "EMRun", "fit_em", "flatten", "run_em", "unflatten"]

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
            objective_trace=self.objective_trace,
            history={
                k: take(v, None if component_axes[k] is None else component_axes[k] + 1)
                for k, v in self.history.items()
            },
            n_iter=self.n_iter,
            converged=self.converged,
        )


def flatten(params: Params) -> np.ndarray:
    """Every array of ``params`` raveled and concatenated, by sorted name, shape (n_values,).

    Sorting makes the vector independent of the order in which a step built the dict.
    """
    return np.concatenate([np.ravel(params[name]) for name in sorted(params)])


def unflatten(vector: np.ndarray, like: Params) -> Params:
    """The inverse of :func:`flatten`: ``vector`` (n_values,) cut into arrays shaped as those of ``like``."""
    params, start = {}, 0
    for name in sorted(like):
        size = np.size(like[name])
        params[name] = vector[start : start + size].reshape(np.shape(like[name]))
        start += size
    return {name: params[name] for name in like}


# SQUAREM's step-length bound: it starts at 1 (no extrapolation), is multiplied
# by 4 whenever the step reaches it and divided by 4 when a step at the bound
# is refused (Varadhan and Roland's defaults, as in the R package SQUAREM).
_FIRST_MAX_STEP = 1.0
_MAX_STEP_FACTOR = 4.0

_State = tuple[Params, object, float]


def _squarem_point(
    e_step: Callable[[Params], tuple[object, float]],
    m_step: Callable[[object], Params],
    states: list[_State],
    max_step: float,
) -> tuple[float, _State | None]:
    """The SqS3 step length, and the EM step from the extrapolated point, from three successive EM states.

    Each state is ``(params, expected, objective)``. With ``r = t1 - t0`` and
    ``v = t2 - 2 t1 + t0`` the point is ``t' = t0 + 2 a r + a^2 v`` with
    ``a = |r| / |v|`` clipped to ``[1, max_step]``; the state returned is one
    EM step from ``t'`` (SQUAREM's stabilising step). It is an M-step's output,
    so constraints that hold only up to rounding at ``t'`` (weights summing
    to 1) hold exactly, and its objective is honest. The state is None when
    ``a = 1`` (``t'`` is ``t2`` itself), when ``t'`` is invalid, or when the
    state's objective is below ``t2``'s.
    """
    (start, _, _), (middle, _, _), (last, _, last_objective) = states
    t0, t1, t2 = flatten(start), flatten(middle), flatten(last)
    r, v = t1 - t0, t2 - 2 * t1 + t0
    r_norm, v_norm = np.linalg.norm(r), np.linalg.norm(v)
    step = min(max_step, r_norm / v_norm) if v_norm > 0 else 1.0
    if not step > 1:
        return 1.0, None
    try:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            expected, objective = e_step(unflatten(t0 + 2 * step * r + step**2 * v, start))
        if not np.isfinite(objective):
            return step, None
        params = m_step(expected)
        expected, objective = e_step(params)
    except ValueError:
        # The point, or the EM step from it, has a covariance that is not positive definite.
        return step, None
    if not objective >= last_objective:
        return step, None
    return step, (params, expected, objective)


def run_em(
    e_step: Callable[[Params], tuple[object, float]],
    m_step: Callable[[object], Params],
    start: Params,
    *,
    tol: float,
    max_iter: int,
    accelerate: bool = False,
) -> EMRun:
    """Iterate E- and M-steps from ``start`` until the objective gains less than ``tol``.

    Converged means the last EM step raised the objective by at most ``tol``
    (an absolute change, in nats). ``max_iter`` bounds the EM steps;
    ``max_iter=0`` evaluates the start only. With ``accelerate``, every two EM
    steps are followed by a SQUAREM extrapolation and one EM step from it (see
    the module docstring); when accepted, that step is recorded as one more
    entry of the trace and history, so ``n_iter`` counts every recorded EM step.
    ``accelerate`` must be a bool (``ValueError`` otherwise), so that "no" is not taken for True.
    """
    accelerate = check_bool(accelerate, "accelerate")
    expected, objective = e_step(start)
    state = (start, expected, objective)
    trace = [objective]
    history = [start]
    recent = [state]
    max_step = _FIRST_MAX_STEP
    converged = False
    for _ in range(max_iter):
        params = m_step(state[1])
        expected, objective = e_step(params)
        previous_objective = state[2]
        state = (params, expected, objective)
        trace.append(objective)
        history.append(params)
        if abs(objective - previous_objective) <= tol:
            converged = True
            break
        if not accelerate:
            continue
        recent.append(state)
        if len(recent) == 3:
            step, jumped = _squarem_point(e_step, m_step, recent, max_step)
            if jumped is None:
                if step > 1 and step == max_step:
                    max_step = max(_FIRST_MAX_STEP, max_step / _MAX_STEP_FACTOR)
                step = 1.0
            else:
                state = jumped
                trace.append(jumped[2])
                history.append(jumped[0])
            recent = [state]
            if step == max_step:
                max_step *= _MAX_STEP_FACTOR
    return EMRun(
        params=state[0],
        objective_trace=np.asarray(trace),
        history={k: np.stack([h[k] for h in history]) for k in start},
        n_iter=len(trace) - 1,
        converged=converged,
    )


def fit_em(
    e_step: Callable[[Params], tuple[object, float]],
    m_step: Callable[[object], Params],
    starts: Sequence[Params],
    *,
    tol: float,
    max_iter: int,
    order_key: Callable[[Params], np.ndarray],
    component_axes: dict[str, int | None],
    accelerate: bool = False,
) -> tuple[EMRun, tuple[EMRun, ...]]:
    """Run EM from every start; return the best run and all runs, each in canonical order.

    Components are sorted by ``order_key(params)`` (ascending), the same
    ordering constraint the PyMC models impose, so EM's labels match the
    posterior's. Only the best run keeps its history; the others keep their
    end points and traces, so memory grows with the starts, not with their
    iterations. One :class:`ConvergenceWarning` is raised if the best run did
    not converge. ``accelerate`` turns on SQUAREM (see :func:`run_em`).
    """
    best, runs = None, []
    for start in starts:
        run = run_em(e_step, m_step, start, tol=tol, max_iter=max_iter, accelerate=accelerate)
        run = run.permuted(np.argsort(order_key(run.params), kind="stable"), component_axes)
        if best is None or run.objective > best.objective:
            best = run
        runs.append(replace(run, history={}))
    if not best.converged:
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations to tol={tol:g}; "
            "increase max_iter, loosen tol, or try other starts (n_init).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best, tuple(runs)
