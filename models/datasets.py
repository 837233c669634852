"""Data the project ships with, and simulators with known truth."""

from dataclasses import dataclass

import numpy as np

__all__ = ["SEED_COINS", "CoinData", "simulate_coins"]


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
