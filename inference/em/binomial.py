"""EM for a mixture of binomials: the two-coin problem, with K coins.

Experiment ``i`` flips one of K coins ``flips[i]`` times and records
``heads[i]``; which coin is hidden. Parameters (the PyMC model's names):
``theta`` (n_components,), each coin's probability of heads, and ``weights``
(n_components,), how often each coin is picked.

Experiments with the same ``(heads, flips)`` share their responsibilities, so
the E- and M-steps work on the distinct pairs weighted by their counts: a
million experiments of ten flips cost what eleven rows cost.
"""

from functools import partial
import warnings

import numpy as np
from scipy import special, stats

from .checks import (
    check_bool,
    check_counts,
    check_init_mapping,
    check_n_components,
    check_n_init,
    check_random_state,
    check_simplex,
    check_tolerances,
    check_unit_interval,
)
from .loop import fit_em
from .priors import BetaDirichletPrior
from .result import EMResult

__all__ = ["e_step", "fit_binomial_mixture", "log_joint", "m_step"]

# Added to the expected counts so that an emptied component gives 0, not 0/0.
_EMPTY = 10 * np.finfo(float).eps


def log_joint(heads: np.ndarray, flips: np.ndarray, theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``log weights[k] + log Binomial(heads[i] | flips[i], theta[k])``, shape (n_rows, n_components)."""
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    return log_weights + stats.binom.logpmf(heads[:, None], flips[:, None], theta[None, :])


def e_step(
    params: dict[str, np.ndarray],
    *,
    heads: np.ndarray,
    flips: np.ndarray,
    counts: np.ndarray,
    prior: BetaDirichletPrior | None,
    fix_weights: bool,
) -> tuple[np.ndarray, float]:
    """Responsibilities (n_rows, n_components) and the objective at ``params``.

    The responsibilities are normalised in log space and exponentiated last.
    The objective is the log-likelihood of all experiments (each row counted
    ``counts[i]`` times), plus the log prior density when ``prior`` is given.
    """
    joint = log_joint(heads, flips, params["theta"], params["weights"])
    log_norm = special.logsumexp(joint, axis=1)
    with np.errstate(under="ignore"):
        resp = np.exp(joint - log_norm[:, None])
    objective = float(counts @ log_norm)
    if prior is not None:
        objective += prior.log_density(params["theta"], None if fix_weights else params["weights"])
    return resp, objective


def m_step(
    resp: np.ndarray,
    *,
    heads: np.ndarray,
    flips: np.ndarray,
    counts: np.ndarray,
    prior: BetaDirichletPrior | None,
    fixed_weights: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Parameters maximising the expected complete-data objective.

    ``resp`` has shape (n_rows, n_components). With a prior the update is the
    exact posterior mode: ``theta = (H + a - 1) / (F + a + b - 2)`` and
    ``weights = (N + alpha - 1) / (n + K (alpha - 1))``, where H, F and N are the
    expected heads, flips and experiments per coin.
    """
    weighted = resp * counts[:, None]
    expected_heads = heads @ weighted
    expected_flips = flips @ weighted + _EMPTY
    expected_n = weighted.sum(axis=0) + _EMPTY
    n_components = resp.shape[1]
    if prior is None:
        theta = expected_heads / expected_flips
        weights = expected_n / expected_n.sum()
    else:
        theta = (expected_heads + prior.a - 1) / (expected_flips + prior.a + prior.b - 2)
        weights = (expected_n + prior.alpha - 1) / (expected_n.sum() + n_components * (prior.alpha - 1))
    return {"theta": theta, "weights": weights if fixed_weights is None else fixed_weights}


def _starts(
    init,
    proportions: np.ndarray,
    n_components: int,
    n_init: int,
    rng: np.random.Generator,
) -> list[dict[str, np.ndarray]]:
    """Starting parameters: the user's, or ``n_init`` draws of observed proportions."""
    equal = np.full(n_components, 1.0 / n_components)
    if init is not None:
        if not hasattr(init, "keys"):
            init = {"theta": init}
        init = check_init_mapping(init, ("theta",), ("weights",))
        theta = check_unit_interval(init["theta"], "init['theta']", (n_components,))
        weights = init.get("weights")
        weights = equal if weights is None else check_simplex(weights, "init['weights']", (n_components,))
        return [{"theta": theta, "weights": weights}]
    starts = []
    distinct = np.unique(proportions)
    if distinct.size < n_components:
        warnings.warn(
            f"n_components: {n_components} coins but only {distinct.size} distinct proportions of heads, so "
            "some coins come back duplicated; decrease the number of coins",
            UserWarning,
            stacklevel=3,
        )
    for _ in range(n_init):
        picked = rng.choice(distinct, size=n_components, replace=distinct.size < n_components)
        jitter = rng.uniform(-0.05, 0.05, size=n_components)
        starts.append({"theta": np.clip(picked + jitter, 0.01, 0.99), "weights": equal})
    return starts


def _check_start_reaches_data(
    start: dict[str, np.ndarray], *, heads: np.ndarray, flips: np.ndarray, inverse: np.ndarray
) -> None:
    """Check that every experiment has probability > 0 at ``start``.

    ``heads`` and ``flips`` (n_rows,) are the distinct experiments and
    ``inverse`` (n_experiments,) the row of each experiment. An experiment that
    no coin can produce (heads with a coin of theta 0, tails with one of
    theta 1) has zero likelihood, and EM, whose responsibilities divide by it,
    cannot move from such a start.
    """
    impossible = np.isneginf(special.logsumexp(log_joint(heads, flips, start["theta"], start["weights"]), axis=1))
    if impossible.any():
        position = np.flatnonzero(impossible[inverse])[0]
        row = inverse[position]
        raise ValueError(
            f"init: experiment {position} ({heads[row]} heads in {flips[row]} flips) has probability 0 under every "
            f"coin of the start theta={start['theta'].tolist()}, so EM cannot move from it; "
            "move the values 0 and 1 inside (0, 1)"
        )


def fit_binomial_mixture(
    heads,
    flips,
    n_components: int = 2,
    *,
    init=None,
    prior: BetaDirichletPrior | None = None,
    fix_weights: bool = False,
    tol: float = 1e-8,
    max_iter: int = 1000,
    n_init: int = 1,
    random_state=None,
    accelerate: bool = False,
) -> EMResult:
    """Fit a K-component binomial mixture by EM.

    Parameters
    ----------
    heads : array-like of shape (n_experiments,)
        Heads seen in each experiment: whole numbers (booleans count as 0
        and 1) up to 2**53, as far as float64 holds every whole number.
    flips : int or array-like of shape (n_experiments,)
        Flips in each experiment, whole numbers from 1 to 2**53; a scalar
        applies to all.
    n_components : int
        Number of coins K, between 1 and n_experiments.
    init : array-like of shape (n_components,), or mapping, optional
        Starting ``theta``, or ``{"theta": ..., "weights": ...}``. Without it,
        each of ``n_init`` starts draws coins' biases from the observed
        proportions (with a small jitter). A ``theta`` of 0 or 1 is allowed
        (it is the MLE of an all-tails or all-heads coin) as long as every
        experiment has probability > 0 under some coin; a start that gives an
        experiment probability 0 is a ValueError, since EM cannot leave it.
    prior : BetaDirichletPrior, optional
        None gives the maximum-likelihood estimate; a prior gives the MAP.
    fix_weights : bool
        Hold the weights at their start (equal unless ``init`` sets them),
        as the classic two-coin example does.
    tol, max_iter : float, int
        Stop when one iteration raises the objective by at most ``tol``, or
        after ``max_iter`` iterations (then a ConvergenceWarning is raised).
    n_init : int
        Number of starts; the run with the highest objective is returned.
    random_state : int, numpy Generator or None
        Seed for the starts: a whole number >= 0, a Generator, or None for a fresh seed.
    accelerate : bool
        Extrapolate by SQUAREM (see :mod:`inference.em.loop`): the same
        optimum in fewer iterations when the components overlap and plain EM
        crawls; the objective still never decreases.

    Returns
    -------
    EMResult
        Components ordered by increasing ``theta``, as in the PyMC model.
        ``responsibilities`` has shape (n_experiments, n_components).
    """
    heads, flips = check_counts(heads, flips)
    n_components = check_n_components(n_components, heads.size, "experiments")
    n_init = check_n_init(n_init, 2 * n_components)
    tol, max_iter = check_tolerances(tol, max_iter)
    if prior is not None and not isinstance(prior, BetaDirichletPrior):
        raise ValueError(f"prior: expected a BetaDirichletPrior or None, got {prior!r}")
    fix_weights = check_bool(fix_weights, "fix_weights")
    rng = check_random_state(random_state)

    pairs, inverse, counts = np.unique(np.stack([heads, flips], axis=1), axis=0, return_inverse=True, return_counts=True)
    data = {"heads": pairs[:, 0], "flips": pairs[:, 1], "counts": counts}
    starts = _starts(init, heads / flips, n_components, n_init, rng)
    if init is not None:
        _check_start_reaches_data(starts[0], heads=data["heads"], flips=data["flips"], inverse=inverse.ravel())
    fixed_weights = starts[0]["weights"] if fix_weights else None

    bound_e_step = partial(e_step, **data, prior=prior, fix_weights=fix_weights)
    best, runs = fit_em(
        bound_e_step,
        partial(m_step, **data, prior=prior, fixed_weights=fixed_weights),
        starts,
        tol=tol,
        max_iter=max_iter,
        order_key=lambda params: params["theta"],
        component_axes={"theta": 0, "weights": 0},
        accelerate=accelerate,
    )
    return EMResult.from_run(
        best,
        runs,
        responsibilities=bound_e_step(best.params)[0][inverse.ravel()],
        objective_name="log_likelihood" if prior is None else "log_posterior",
        dims={"theta": ("coin",), "weights": ("coin",), "responsibilities": ("experiment", "coin")},
        coords={"coin": np.arange(n_components), "experiment": np.arange(heads.size)},
    )
