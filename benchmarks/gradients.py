"""One log density and gradient of our marginalized PyMC models through JAX, against the same density written in JAX.

Run: ``python benchmarks/gradients.py [--repeats 50]``. For each case, ours is
the model's log density as PyMC's JAX samplers get it
(``pymc.sampling.jax.get_jaxified_logp``: a function of the unconstrained
values, in the order of ``model.value_vars``, with every transform's
log-Jacobian), and direct is a hand-written JAX function of the same values
that computes the same number: priors, mixture likelihood and log-Jacobians.
Both sides are ``jax.jit(jax.value_and_grad(...))`` over all the values, in
float64, with the data as constants. Before any timing the two must agree at
three random unconstrained points (a start in the variables' own space,
transformed, plus U(-1, 1) jitter): to 1e-10 relative in value, and in every
gradient entry to 1e-8 of direct's largest. A case where they do not is not
timed: its row says where they differ, and the script exits with an error
after the table.

Microseconds per call are the best over ``--repeats`` timed loops of about
20 ms of one call after another, each call waited for
(``jax.block_until_ready``), the two sides taking turns: on a shared machine
many short turns give both sides the same chances at a quiet spell. The
triangular solves run in OpenBLAS (through SciPy), limited to one thread:
at these sizes its threads only add synchronisation, which on a busy
machine makes the timings bimodal, and NUTS chains already share the cores.
Neither side pools repeated rows, so the ratio compares formulations, not
algorithms. Prints Markdown: the versions and the machine, then one row per
case. A run takes about a minute, most of it compiling.
"""

import argparse
import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp
from scipy import special
from threadpoolctl import threadpool_limits

# Float64 before anything that may create a JAX array, such as the imports below.
jax.config.update("jax_enable_x64", True)

import pymc as pm  # noqa: E402
from pymc.initial_point import make_initial_point_fn  # noqa: E402
from pymc.sampling.jax import get_jaxified_logp  # noqa: E402

from inference.em import GaussianMixturePrior  # noqa: E402
from inference.em.priors import BetaDirichletPrior  # noqa: E402
from models.datasets import SEED_COINS, default_gaussian_data, simulate_coins  # noqa: E402
from models.gaussian_mixture import gaussian_mixture_model  # noqa: E402
from models.two_coins import two_coins_model  # noqa: E402
from samplers import two_clusters  # noqa: E402

CHECK_POINTS = 3
N_COINS = 2
VALUE_RTOL = 1e-10
GRADIENT_RTOL = 1e-8
LOOP_SECONDS = 0.02
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


###############################################################################
# Transforms: unconstrained values to the model's variables, with log-Jacobians


def simplex(free):
    """Log weights (K,) from the simplex transform's values (K - 1,), and its log-Jacobian.

    The values, completed by minus their sum, are the weights' logits.
    """
    logits = jnp.append(free, -jnp.sum(free))
    log_weights = logits - logsumexp(logits)
    return log_weights, np.log(logits.size) + jnp.sum(log_weights)


def ordered_first(free):
    """Means (K, d) from ``OrderedFirstCoordinate``'s values (K, d), and its log-Jacobian."""
    steps = jnp.concatenate([free[:1, 0], jnp.exp(free[1:, 0])])
    return free.at[:, 0].set(jnp.cumsum(steps)), jnp.sum(free[1:, 0])


def cholesky_factor(packed, d):
    """Lower factors (..., d, d) from ``CholeskyCovariance``'s values (..., d (d + 1) / 2).

    Also returns their log diagonals (..., d) and the log-Jacobian of the map
    to the covariances, summed over the batch.
    """
    rows, columns = np.tril_indices(d)
    on_diagonal = np.flatnonzero(rows == columns)
    log_diagonal = packed[..., on_diagonal]
    entries = packed.at[..., on_diagonal].set(jnp.exp(log_diagonal))
    factor = jnp.zeros((*packed.shape[:-1], d, d)).at[..., rows, columns].set(entries)
    batch = int(np.prod(packed.shape[:-1]))
    log_jacobian = batch * d * np.log(2.0) + jnp.sum(np.arange(d + 1, 1, -1) * log_diagonal)
    return factor, log_diagonal, log_jacobian


def ordered_logodds(free):
    """Log theta and log(1 - theta) (K,) from ``ordered`` chained after logodds, values (K,), and its log-Jacobian."""
    logits = jnp.cumsum(jnp.concatenate([free[:1], jnp.exp(free[1:])]))
    log_theta, log_tails = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    return log_theta, log_tails, jnp.sum(free[1:]) + jnp.sum(log_theta + log_tails)


###############################################################################
# Densities. Terms of the prior and the data alone are computed with NumPy and
# SciPy while tracing, so XLA gets them as constants (it does not fold lgamma).


def dirichlet_logp(log_weights, alpha):
    """Symmetric Dirichlet(alpha) log density at weights given by their logs (K,)."""
    k = log_weights.size
    return special.gammaln(k * alpha) - k * special.gammaln(alpha) + (alpha - 1) * jnp.sum(log_weights)


def inverse_wishart_logp(factor, log_diagonal, nu, scale):
    """InvWishart(nu, scale) log density of ``factor @ factor.T`` for factors (..., d, d), summed over the batch.

    ``log_diagonal`` (..., d) are the factors' log diagonals; ``scale`` (d, d)
    is a constant.
    """
    d = scale.shape[0]
    batch = int(np.prod(factor.shape[:-2]))
    scale_factor = np.linalg.cholesky(scale)
    whitened = solve_triangular(factor, jnp.broadcast_to(scale_factor, factor.shape), lower=True)
    constant = nu / 2 * np.linalg.slogdet(scale)[1] - nu * d / 2 * np.log(2.0) - special.multigammaln(nu / 2, d)
    return batch * constant - (nu + d + 1) * jnp.sum(log_diagonal) - jnp.sum(whitened**2) / 2


def inverse_gamma_logp(log_value, alpha, beta):
    """InverseGamma(alpha, beta) log density at values given by their logs, summed; ``beta`` broadcasts."""
    terms = alpha * np.log(beta) - special.gammaln(alpha) - (alpha + 1) * log_value - beta * jnp.exp(-log_value)
    return jnp.sum(terms)


def mixture_loglik(log_weights, component_logp):
    """Sum over rows of logsumexp_k(log w_k + component_logp[k, i]); ``component_logp`` (K, n)."""
    return jnp.sum(logsumexp(log_weights[:, None] + component_logp, axis=0))


def gaussian_component_logp(squared, log_deviation_sum, d):
    """Log N of every row under every component (K, n) from squared whitened residuals (K, n).

    ``log_deviation_sum`` (K,) is each component's log sqrt(det Sigma_k).
    """
    return -squared / 2 - log_deviation_sum[:, None] - d * HALF_LOG_2PI


###############################################################################
# The models' log densities, one per family and covariance type


def full_logp(weights_free, covariances_packed, means_free, *, x, prior):
    """Full covariances: values (K - 1,), (K, d (d + 1) / 2), (K, d); ``x`` (n, d)."""
    d = x.shape[1]
    log_weights, weights_jacobian = simplex(weights_free)
    factor, log_diagonal, covariances_jacobian = cholesky_factor(covariances_packed, d)
    means, means_jacobian = ordered_first(means_free)
    log_deviation_sum = jnp.sum(log_diagonal, axis=-1)
    prior_residuals = solve_triangular(factor, (means - prior.mean)[:, :, None], lower=True)
    means_logp = jnp.sum(
        d / 2 * np.log(prior.shrinkage) - d * HALF_LOG_2PI - log_deviation_sum
        - prior.shrinkage / 2 * jnp.sum(prior_residuals**2, axis=(1, 2))
    )
    residuals = x.T[None, :, :] - means[:, :, None]
    squared = jnp.sum(solve_triangular(factor, residuals, lower=True) ** 2, axis=1)
    return (
        dirichlet_logp(log_weights, prior.alpha)
        + inverse_wishart_logp(factor, log_diagonal, prior.dof, prior.scale)
        + means_logp
        + mixture_loglik(log_weights, gaussian_component_logp(squared, log_deviation_sum, d))
        + weights_jacobian + covariances_jacobian + means_jacobian
    )


def tied_logp(weights_free, covariance_packed, means_free, *, x, prior):
    """One shared covariance: values (K - 1,), (d (d + 1) / 2,), (K, d); ``x`` (n, d).

    The data and the means are whitened once each, not once per component.
    """
    d = x.shape[1]
    k = means_free.shape[0]
    log_weights, weights_jacobian = simplex(weights_free)
    factor, log_diagonal, covariance_jacobian = cholesky_factor(covariance_packed, d)
    means, means_jacobian = ordered_first(means_free)
    log_deviation_sum = jnp.sum(log_diagonal)
    whitened_means = solve_triangular(factor, means.T, lower=True)
    whitened_x = solve_triangular(factor, x.T, lower=True)
    whitened_prior_mean = solve_triangular(factor, prior.mean, lower=True)
    means_logp = (
        k * d / 2 * np.log(prior.shrinkage) - k * d * HALF_LOG_2PI - k * log_deviation_sum
        - prior.shrinkage / 2 * jnp.sum((whitened_means - whitened_prior_mean[:, None]) ** 2)
    )
    squared = jnp.sum((whitened_x[:, None, :] - whitened_means[:, :, None]) ** 2, axis=0)
    return (
        dirichlet_logp(log_weights, prior.alpha)
        + inverse_wishart_logp(factor, log_diagonal, prior.dof, prior.scale)
        + means_logp
        + mixture_loglik(log_weights, gaussian_component_logp(squared, jnp.full(k, log_deviation_sum), d))
        + weights_jacobian + covariance_jacobian + means_jacobian
    )


def independent_coordinates_logp(log_weights, log_variances, means, *, x, prior):
    """Means' prior and likelihood when coordinates are independent: log variances (K, d), means (K, d)."""
    d = x.shape[1]
    precisions = jnp.exp(-log_variances)
    means_logp = jnp.sum(
        np.log(prior.shrinkage) / 2 - HALF_LOG_2PI - log_variances / 2
        - prior.shrinkage / 2 * (means - prior.mean) ** 2 * precisions
    )
    residuals = x[None, :, :] - means[:, None, :]
    squared = jnp.sum(residuals**2 * precisions[:, None, :], axis=-1)
    log_deviation_sum = jnp.sum(log_variances, axis=-1) / 2
    return means_logp + mixture_loglik(log_weights, gaussian_component_logp(squared, log_deviation_sum, d))


def diag_logp(weights_free, log_variances, means_free, *, x, prior):
    """Diagonal covariances: values (K - 1,), (K, d) (log variances), (K, d); ``x`` (n, d)."""
    log_weights, weights_jacobian = simplex(weights_free)
    means, means_jacobian = ordered_first(means_free)
    return (
        dirichlet_logp(log_weights, prior.alpha)
        + inverse_gamma_logp(log_variances, prior.dof / 2, np.diag(prior.scale) / 2)
        + independent_coordinates_logp(log_weights, log_variances, means, x=x, prior=prior)
        + weights_jacobian + jnp.sum(log_variances) + means_jacobian
    )


def spherical_logp(weights_free, log_variances, means_free, *, x, prior):
    """One variance per component: values (K - 1,), (K,) (log variances), (K, d); ``x`` (n, d)."""
    d = x.shape[1]
    log_weights, weights_jacobian = simplex(weights_free)
    means, means_jacobian = ordered_first(means_free)
    every_coordinate = jnp.broadcast_to(log_variances[:, None], means.shape)
    return (
        dirichlet_logp(log_weights, prior.alpha)
        + inverse_gamma_logp(log_variances, prior.dof / 2, np.trace(prior.scale) / (2 * d))
        + independent_coordinates_logp(log_weights, every_coordinate, means, x=x, prior=prior)
        + weights_jacobian + jnp.sum(log_variances) + means_jacobian
    )


def coins_logp(theta_free, weights_free, *, heads, flips, prior):
    """Binomial mixture: values (K,) (ordered logodds) and (K - 1,); ``heads``, ``flips`` (n,)."""
    log_theta, log_tails, theta_jacobian = ordered_logodds(theta_free)
    log_weights, weights_jacobian = simplex(weights_free)
    beta_logp = (
        (prior.a - 1) * jnp.sum(log_theta) + (prior.b - 1) * jnp.sum(log_tails)
        - log_theta.size * special.betaln(prior.a, prior.b)
    )
    log_binomial = np.sum(special.gammaln(flips + 1) - special.gammaln(heads + 1) - special.gammaln(flips - heads + 1))
    component_logp = heads[None, :] * log_theta[:, None] + (flips - heads)[None, :] * log_tails[:, None]
    return (
        beta_logp
        + dirichlet_logp(log_weights, prior.alpha)
        + log_binomial
        + mixture_loglik(log_weights, component_logp)
        + theta_jacobian + weights_jacobian
    )


GAUSSIAN_LOGP = {"full": full_logp, "tied": tied_logp, "diag": diag_logp, "spherical": spherical_logp}


###############################################################################
# Cases: a model, its direct density, and a start in the variables' own space


def gaussian_case(x, n_components, covariance_type):
    """The marginalized model, its direct density, and a start: rows of ``x`` (n, d) at quantiles as means."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    d = x.shape[1]
    prior = GaussianMixturePrior().resolve(x, n_components)
    model = gaussian_mixture_model(
        x, n_components, covariance_type=covariance_type, prior=prior, marginalized=True
    )
    ranked = x[np.argsort(x[:, 0])]
    covariance = np.cov(x, rowvar=False).reshape(d, d)
    covariances = {
        "full": np.broadcast_to(covariance, (n_components, d, d)),
        "tied": covariance,
        "diag": np.broadcast_to(np.diag(covariance), (n_components, d)),
        "spherical": np.full(n_components, np.trace(covariance) / d),
    }[covariance_type]
    start = {
        "weights": np.full(n_components, 1 / n_components),
        "means": ranked[((np.arange(n_components) + 0.5) / n_components * len(x)).astype(int)],
        "covariances": covariances,
    }
    direct = partial(GAUSSIAN_LOGP[covariance_type], x=x, prior=prior)
    return model, direct, start


def coins_case(heads, flips):
    """The marginalized two-coins model (estimated weights) of ``heads``, ``flips`` (n,), its direct density, and a start."""
    # NumPy float64 scalars: PyTensor makes a Python float such as 2.0 a float32
    # constant, and the Beta's betaln(a, b) is then computed in float32 (4e-8 off).
    prior = BetaDirichletPrior(a=np.float64(2.0), b=np.float64(2.0), alpha=np.float64(1.0))
    heads = np.asarray(heads, dtype=float)
    flips = np.broadcast_to(np.asarray(flips, dtype=float), heads.shape)
    model = two_coins_model(heads.astype(int), flips.astype(int), n_coins=N_COINS, prior=prior, marginalized=True)
    start = {"theta": np.linspace(0.3, 0.7, N_COINS), "weights": np.full(N_COINS, 1 / N_COINS)}
    direct = partial(coins_logp, heads=heads, flips=flips, prior=prior)
    return model, direct, start


def cases():
    """(label, model, direct, start) for every row of the table."""
    x = two_clusters(272)
    coins = simulate_coins(2000, 10, [0.35, 0.75], [0.4, 0.6], random_state=0)
    specifications = [
        ("2-D n=272 K=3 full", gaussian_case, (x, 3, "full")),
        ("2-D n=272 K=3 tied", gaussian_case, (x, 3, "tied")),
        ("2-D n=272 K=3 diag", gaussian_case, (x, 3, "diag")),
        ("2-D n=272 K=3 spherical", gaussian_case, (x, 3, "spherical")),
        ("2-D n=272 K=2 full", gaussian_case, (x, 2, "full")),
        ("1-D default n=300 K=3 full", gaussian_case, (default_gaussian_data().x, 3, "full")),
        ("coins seed n=5 K=2", coins_case, (SEED_COINS.heads, SEED_COINS.flips)),
        ("coins simulated n=2000 K=2", coins_case, (coins.heads, coins.flips)),
    ]
    for label, build, arguments in specifications:
        yield (label, *build(*arguments))


###############################################################################
# Check and time


def value_and_gradient(logp, n_values):
    """``jax.jit(jax.value_and_grad)`` of ``logp(*values)`` with respect to all ``n_values`` arguments."""
    return jax.jit(jax.value_and_grad(logp, argnums=tuple(range(n_values))))


def random_points(model, start, count):
    """``count`` unconstrained points: ``start`` transformed, plus U(-1, 1) jitter, each a list in value_vars order."""
    make_point = make_initial_point_fn(model=model, overrides=start, jitter_rvs=set(model.free_RVs))
    points = [make_point(seed) for seed in range(count)]
    return [[jnp.asarray(point[value.name]) for value in model.value_vars] for point in points]


def disagreement(ours, direct, points, names):
    """Where the two sides first differ beyond the tolerances, or None; ``names`` are the values' names."""
    for index, point in enumerate(points):
        (value_ours, gradient_ours), (value_direct, gradient_direct) = ours(*point), direct(*point)
        if not np.isfinite(value_ours) or abs(value_direct - value_ours) > VALUE_RTOL * abs(value_ours):
            return f"point {index}: log density ours {float(value_ours)!r}, direct {float(value_direct)!r}"
        largest = max(float(jnp.max(jnp.abs(part))) for part in gradient_direct)
        for name, ours_part, direct_part in zip(names, gradient_ours, gradient_direct):
            if not jnp.all(jnp.isfinite(ours_part)):
                return f"point {index}: ours' gradient in {name} is {np.asarray(ours_part).tolist()}"
            difference = float(jnp.max(jnp.abs(ours_part - direct_part)))
            if difference > GRADIENT_RTOL * largest:
                return f"point {index}: gradients in {name} differ by {difference:.3g} (largest entry {largest:.3g})"
    return None


def loop_microseconds(function, point, calls):
    """Microseconds per call over ``calls`` calls in a row, each waited for."""
    began = time.perf_counter()
    for _ in range(calls):
        jax.block_until_ready(function(*point))
    return (time.perf_counter() - began) / calls * 1e6


def best_microseconds(functions, point, repeats):
    """Best microseconds per call of each function, their timed loops taking turns."""
    calls = [max(10, int(LOOP_SECONDS * 1e6 / loop_microseconds(function, point, 20))) for function in functions]
    runs = [[loop_microseconds(function, point, n) for function, n in zip(functions, calls)] for _ in range(repeats)]
    return [min(column) for column in zip(*runs)]


def describe_machine() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    return (
        f"numpy {np.__version__}, jax {jax.__version__}, pymc {pm.__version__}; "
        f"nproc {len(os.sched_getaffinity(0))} ({model}); JAX on {jax.devices()[0].platform}, OpenBLAS 1 thread"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    print(describe_machine())
    print()
    print("| case | ours µs | direct µs | ours / direct |")
    print("|---|---|---|---|")
    failed = []
    with threadpool_limits(limits=1):
        for label, model, direct_logp, start in cases():
            names = [value.name for value in model.value_vars]
            ours_logp = get_jaxified_logp(model)
            ours = value_and_gradient(lambda *values: ours_logp(values), len(names))
            direct = value_and_gradient(direct_logp, len(names))
            points = random_points(model, start, CHECK_POINTS)
            problem = disagreement(ours, direct, points, names)
            if problem is not None:
                print(f"| {label} | not timed: {problem} | | |", flush=True)
                failed.append(label)
                continue
            ours_us, direct_us = best_microseconds([ours, direct], points[0], args.repeats)
            print(f"| {label} | {ours_us:.1f} | {direct_us:.1f} | {ours_us / direct_us:.2f} |", flush=True)
    if failed:
        raise SystemExit(f"ours and direct disagree on: {', '.join(failed)}")


if __name__ == "__main__":
    main()
