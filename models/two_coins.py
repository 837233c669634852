"""The two-coin problem (a binomial mixture, K coins) as a PyMC model."""

import numpy as np
import pymc as pm
from pymc.distributions.transforms import ordered
import pytensor.tensor as pt

from inference.em.priors import BetaDirichletPrior
from models.mixture import logsumexp

__all__ = ["component_logp", "log_joint", "mixture_logp", "two_coins_model"]


def two_coins_model(
    heads,
    flips,
    *,
    n_coins: int = 2,
    prior: BetaDirichletPrior = BetaDirichletPrior(),
    fix_weights: bool = False,
    marginalized: bool = False,
) -> pm.Model:
    """Experiments that each flip one of ``n_coins`` coins; which one is hidden.

    Parameters
    ----------
    heads, flips : array-like of shape (n_experiments,)
        Heads and flips per experiment (``flips`` may be a scalar).
    n_coins : int
        Number of coins K.
    prior : BetaDirichletPrior
        ``theta ~ Beta(a, b)`` per coin, ``weights ~ Dirichlet(alpha)``.
    fix_weights : bool
        Every coin equally likely (no ``weights`` variable), as in the
        classic example.
    marginalized : bool
        False: an explicit ``assignment`` (n_experiments,) per experiment.
        True: the assignments summed out, for MAP and NUTS: ``heads`` has the
        mixture density :func:`mixture_logp`, written directly, which equals
        the latent model summed over every experiment's coin.

    Variables: ``theta`` (coin) ordered increasingly, which removes label
    switching and is why every start must be increasing (pass ``initvals``);
    ``weights`` (coin); ``assignment`` (experiment); observed ``heads``
    (experiment).
    """
    heads = np.asarray(heads)
    flips = np.broadcast_to(np.asarray(flips), heads.shape)
    coords = {"coin": np.arange(n_coins), "experiment": np.arange(heads.size)}
    with pm.Model(coords=coords) as model:
        # NumPy float64 scalars: PyTensor makes a Python float that fits float32
        # exactly (such as 2.0) a float32 constant, 4e-8 off in log Beta(2, 2).
        theta = pm.Beta("theta", alpha=np.float64(prior.a), beta=np.float64(prior.b), dims="coin", transform=ordered)
        if fix_weights:
            weights = np.full(n_coins, 1.0 / n_coins)
        else:
            weights = pm.Dirichlet("weights", a=np.full(n_coins, prior.alpha), dims="coin")
        if marginalized:
            pm.CustomDist(
                "heads",
                weights,
                theta,
                flips,
                logp=_observed_logp,
                random=_mixture_random,
                signature="(k),(k),()->()",
                dtype="int64",
                observed=heads,
                dims="experiment",
            )
            return model
        assignment = pm.Categorical("assignment", p=weights, dims="experiment")
        pm.Binomial("heads", n=flips, p=theta[assignment], observed=heads, dims="experiment")
    return model


def component_logp(heads, flips, theta):
    """Log probability of every experiment's heads under every coin, shape (n_experiments, K).

    ``heads`` and ``flips`` (n_experiments,), ``theta`` (K,).
    """
    return pm.logp(pm.Binomial.dist(n=flips[:, None], p=theta), heads[:, None])


def log_joint(heads, flips, *, weights, theta):
    """``log w_k + log Binomial(heads_i | flips_i, theta_k)`` for every experiment and coin, shape (n_experiments, K).

    Normalised over k, it is each experiment's posterior assignment probability given the parameters.
    """
    return pt.log(weights) + component_logp(heads, flips, theta)


def mixture_logp(heads, flips, weights, theta):
    """Log probability of every experiment under the mixture, shape (n_experiments,).

    ``logsumexp_k(log w_k + log Binomial(heads_i | flips_i, theta_k))``: the
    explicit-assignment model summed over each experiment's coin, EM's normaliser.
    """
    return logsumexp(log_joint(heads, flips, weights=weights, theta=theta), axis=-1)


def _observed_logp(heads, weights, theta, flips):
    # PyMC hands the coins' parameters with a leading batch axis of length 1.
    return mixture_logp(heads, flips, weights[0], theta[0])


def _mixture_random(weights, theta, flips, rng=None, size=None):
    coins = rng.choice(len(theta), size=size, p=weights)
    return rng.binomial(flips, theta[coins])
