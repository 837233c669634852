"""Data the project ships with, and simulators with known truth."""

from dataclasses import dataclass

import numpy as np

__all__ = ["SEED_COINS", "CoinData", "GaussianData", "default_gaussian_data", "simulate_coins", "simulate_gaussian_mixture"]


@dataclass(frozen=True)
class CoinData:
    """Heads and flips per experiment, each of shape (n_experiments,).

    ``theta`` and ``weights`` hold the truth when the data were simulated.
    """

    heads: np.ndarray
    flips: np.ndarray
    theta: np.ndarray | None = None
    weights: np.ndarray | None = None


SEED_COINS = CoinData(heads=np.array([5, 9, 8, 4, 7]), flips=np.full(5, 10))
"""The classic two-coin example: five experiments of ten flips each.

EM from theta = 0.6 / 0.5 with equal, fixed weights reaches 0.7130 / 0.5813
after one iteration and the fixed point 0.796789 / 0.519583.
"""


def simulate_coins(
    n_experiments: int,
    flips: int,
    theta,
    weights=None,
    *,
    random_state=None,
) -> CoinData:
    """Simulate experiments that each flip one of K coins ``flips`` times.

    ``theta`` (K,) are the coins' biases; ``weights`` (K,) how often each coin
    is picked (equal when None).
    """
    rng = np.random.default_rng(random_state)
    theta = np.asarray(theta, dtype=float)
    weights = np.full(theta.size, 1 / theta.size) if weights is None else np.asarray(weights, dtype=float)
    coin = rng.choice(theta.size, size=n_experiments, p=weights)
    heads = rng.binomial(flips, theta[coin])
    return CoinData(heads=heads, flips=np.full(n_experiments, flips), theta=theta, weights=weights)


@dataclass(frozen=True)
class GaussianData:
    """Observations ``x`` (n_samples, n_features) and, when simulated, the truth.

    ``weights`` (n_components,), ``means`` (n_components, n_features) and
    ``covariances`` (n_components, n_features, n_features) are the generating
    parameters; ``component`` (n_samples,) says which Gaussian drew each row.
    """

    x: np.ndarray
    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None
    component: np.ndarray | None = None


def simulate_gaussian_mixture(n_samples: int, weights, means, covariances, *, random_state=None) -> GaussianData:
    """Draw ``n_samples`` rows from a Gaussian mixture.

    ``weights`` (K,), ``means`` (K, d) and ``covariances`` (K, d, d).
    """
    rng = np.random.default_rng(random_state)
    weights = np.asarray(weights, dtype=float)
    means = np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    component = rng.choice(weights.size, size=n_samples, p=weights)
    factors = np.linalg.cholesky(covariances)
    noise = rng.standard_normal((n_samples, means.shape[1]))
    x = means[component] + np.einsum("nij,nj->ni", factors[component], noise)
    return GaussianData(x=x, weights=weights, means=means, covariances=covariances, component=component)


def default_gaussian_data() -> GaussianData:
    """The embedded default for Gaussian mixtures: 300 draws of a 1-D, 3-component mixture.

    Weights 0.3 / 0.45 / 0.25, means -2.5 / 0.5 / 4, standard deviations
    0.6 / 0.8 / 1.0, drawn with ``numpy.random.default_rng(2026)``. The two
    left components overlap a little, the right one stands apart. ``x`` has
    shape (300, 1).
    """
    return simulate_gaussian_mixture(
        300,
        weights=[0.3, 0.45, 0.25],
        means=[[-2.5], [0.5], [4.0]],
        covariances=np.array([0.6, 0.8, 1.0]).reshape(3, 1, 1) ** 2,
        random_state=2026,
    )
