"""The two-coin problem (a binomial mixture, K coins) as a PyMC model."""

import numpy as np
import pymc as pm
from pymc.distributions.transforms import ordered
from pymc_extras.marginal import marginalize

from inference.em.priors import BetaDirichletPrior

__all__ = ["two_coins_model"]


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
        True: the assignments summed out (a mixture likelihood), for MAP and
        NUTS; recover them with ``pymc_extras.marginal.recover``.

    Variables: ``theta`` (coin) ordered increasingly, which removes label
    switching and is why every start must be increasing (pass ``initvals``);
    ``weights`` (coin); ``assignment`` (experiment); observed ``heads``
    (experiment).
    """
    heads = np.asarray(heads)
    flips = np.broadcast_to(np.asarray(flips), heads.shape)
    coords = {"coin": np.arange(n_coins), "experiment": np.arange(heads.size)}
    with pm.Model(coords=coords) as model:
        theta = pm.Beta("theta", alpha=prior.a, beta=prior.b, dims="coin", transform=ordered)
        if fix_weights:
            weights = np.full(n_coins, 1.0 / n_coins)
        else:
            weights = pm.Dirichlet("weights", a=np.full(n_coins, prior.alpha), dims="coin")
        assignment = pm.Categorical("assignment", p=weights, dims="experiment")
        pm.Binomial("heads", n=flips, p=theta[assignment], observed=heads, dims="experiment")
    return marginalize(model, ["assignment"]) if marginalized else model
