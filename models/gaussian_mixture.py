"""A K-component Gaussian mixture with conjugate priors as a PyMC model."""

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.marginal import marginalize

from models.transforms import OrderedFirstCoordinate, inverse_wishart

__all__ = ["gaussian_mixture_model"]


def gaussian_mixture_model(
    x,
    n_components: int,
    *,
    covariance_type: str = "full",
    prior,
    marginalized: bool = False,
) -> pm.Model:
    """Data ``x`` drawn from one of ``n_components`` Gaussians; which one is hidden.

    Parameters
    ----------
    x : array-like of shape (n, d), or (n,) treated as (n, 1)
        Observations.
    n_components : int
        Number of components K.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Covariance structure, as in scikit-learn and the EM code.
    prior : resolved Gaussian prior
        Any object with ``alpha`` (float), ``shrinkage`` kappa (float),
        ``mean`` m (d,), ``dof`` nu (float) and ``scale`` Psi (d, d), such as
        ``GaussianMixturePrior(...).resolve(x, n_components)``. Then
        ``weights ~ Dirichlet(alpha)``; full: each ``Sigma_k ~ InvWishart(nu, Psi)``
        (scipy's parametrization), tied: one ``Sigma ~ InvWishart(nu, Psi)``;
        diag: ``sigma2_kj ~ InverseGamma(nu / 2, Psi_jj / 2)``; spherical:
        ``sigma2_k ~ InverseGamma(nu / 2, trace(Psi) / (2 d))``; and
        ``mu_k | Sigma_k ~ Normal(m, Sigma_k / kappa)`` (independent
        coordinates for diag and spherical).
    marginalized : bool
        False: an explicit ``assignment`` (n,) per observation.
        True: the assignments summed out with ``pymc_extras.marginal.marginalize``
        (the latent model, marginalized), for MAP and NUTS; recover them with
        ``pymc_extras.marginal.recover``.

    Variables (dims): ``weights`` (component); ``means`` (component, dim),
    ordered increasingly by ``means[:, 0]`` (the ``OrderedFirstCoordinate``
    transform), which removes label switching;
    ``covariances``: full (component, dim, dim2), tied (dim, dim2), diag
    (component, dim), spherical (component); ``assignment`` (obs) unless
    marginalized; observed ``x`` (obs, dim). Coordinates are ``arange``.
    Full and tied covariances are ``models.transforms.inverse_wishart``
    variables: the value is the covariance matrix, sampled through a packed
    Cholesky factor with log diagonal.

    The default initial point puts every mean at m, which is not ordered:
    pass a start with ``means[:, 0]`` strictly increasing, e.g. EM's estimate,
    as ``initvals=`` to ``pm.sample`` or ``start=`` to ``pm.find_MAP``
    (keys are the variable names, values in their natural space).
    ``pm.find_MAP`` drops the transforms' Jacobians, so it returns the mode of
    the density of (weights, means, covariances) themselves.
    """
    covariance_dims = {
        "full": ("component", "dim", "dim2"),
        "tied": ("dim", "dim2"),
        "diag": ("component", "dim"),
        "spherical": ("component",),
    }
    if covariance_type not in covariance_dims:
        raise ValueError(
            f"covariance_type must be one of {sorted(covariance_dims)}, got {covariance_type!r}"
        )
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n, d = x.shape
    # NumPy float64 scalars: PyTensor turns a Python float that fits float32
    # exactly (such as 2.0 or 1.5) into a float32 constant.
    kappa = np.float64(prior.shrinkage)
    nu = np.float64(prior.dof)
    prior_mean = np.asarray(prior.mean, dtype=float).reshape(d)
    prior_scale = np.asarray(prior.scale, dtype=float).reshape(d, d)
    coords = {
        "component": np.arange(n_components),
        "obs": np.arange(n),
        "dim": np.arange(d),
        "dim2": np.arange(d),
    }
    with pm.Model(coords=coords) as model:
        alpha = np.full(n_components, prior.alpha, dtype=float)
        weights = pm.Dirichlet("weights", a=alpha, dims="component")
        means_kwargs = {"dims": ("component", "dim"), "transform": OrderedFirstCoordinate()}
        dims = covariance_dims[covariance_type]
        if covariance_type in ("full", "tied"):
            covariances = inverse_wishart("covariances", nu, prior_scale, dims=dims)
            chol = pt.linalg.cholesky(covariances)
            means = pm.MvNormal("means", mu=prior_mean, chol=chol / np.sqrt(kappa), **means_kwargs)
        else:
            if covariance_type == "diag":
                beta = np.diag(prior_scale) / 2
            else:
                beta = np.trace(prior_scale) / (2 * d)
            covariances = pm.InverseGamma("covariances", alpha=nu / 2, beta=beta, dims=dims)
            sigma = pt.sqrt(covariances if covariance_type == "diag" else covariances[:, None])
            means = pm.Normal("means", mu=prior_mean, sigma=sigma / np.sqrt(kappa), **means_kwargs)
        if n_components == 1:
            # One component hides nothing: every row is its own, no assignment to sum out.
            assignment = np.zeros(n, dtype=int)
        else:
            assignment = pm.Categorical("assignment", p=weights, dims="obs")
        obs_dims = ("obs", "dim")
        if covariance_type == "full":
            pm.MvNormal("x", mu=means[assignment], chol=chol[assignment], observed=x, dims=obs_dims)
        elif covariance_type == "tied":
            pm.MvNormal("x", mu=means[assignment], chol=chol, observed=x, dims=obs_dims)
        else:
            pm.Normal("x", mu=means[assignment], sigma=sigma[assignment], observed=x, dims=obs_dims)
    return marginalize(model, ["assignment"]) if marginalized and n_components > 1 else model
