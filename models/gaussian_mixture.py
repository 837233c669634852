"""A K-component Gaussian mixture with conjugate priors as a PyMC model."""

from functools import partial

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.linalg import solve_triangular

from models.mixture import logsumexp
from models.transforms import OrderedFirstCoordinate, inverse_wishart

__all__ = ["component_logp", "covariance_factor", "gaussian_mixture_model", "log_joint", "mixture_logp"]


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
        True: the assignments summed out, for MAP and NUTS: ``x`` has the
        mixture density :func:`mixture_logp`, written directly (one batched
        triangular solve for all components, then logsumexp), which equals
        the latent model summed over every row's assignment.

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
            factor = covariance_factor(covariances, covariance_type)
            means = pm.MvNormal("means", mu=prior_mean, chol=factor / np.sqrt(kappa), **means_kwargs)
        else:
            if covariance_type == "diag":
                beta = np.diag(prior_scale) / 2
            else:
                beta = np.trace(prior_scale) / (2 * d)
            covariances = pm.InverseGamma("covariances", alpha=nu / 2, beta=beta, dims=dims)
            factor = covariance_factor(covariances, covariance_type)
            sigma = factor if covariance_type == "diag" else factor[:, None]
            means = pm.Normal("means", mu=prior_mean, sigma=sigma / np.sqrt(kappa), **means_kwargs)
        if marginalized or n_components == 1:
            # One component hides nothing, and summed out the assignments leave a
            # mixture density: both are the observed variable's own density.
            pm.CustomDist(
                "x",
                weights,
                means,
                factor,
                logp=partial(_observed_logp, covariance_type=covariance_type),
                random=partial(_mixture_random, covariance_type=covariance_type),
                signature=_SIGNATURES[covariance_type],
                observed=x,
                dims=("obs", "dim"),
            )
            return model
        assignment = pm.Categorical("assignment", p=weights, dims="obs")
        obs_dims = ("obs", "dim")
        if covariance_type == "full":
            pm.MvNormal("x", mu=means[assignment], chol=factor[assignment], observed=x, dims=obs_dims)
        elif covariance_type == "tied":
            pm.MvNormal("x", mu=means[assignment], chol=factor, observed=x, dims=obs_dims)
        else:
            pm.Normal("x", mu=means[assignment], sigma=sigma[assignment], observed=x, dims=obs_dims)
    return model


_SIGNATURES = {
    "full": "(k),(k,d),(k,d,d)->(d)",
    "tied": "(k),(k,d),(d,d)->(d)",
    "diag": "(k),(k,d),(k,d)->(d)",
    "spherical": "(k),(k,d),(k)->(d)",
}
"""The mixture's parameters by covariance type: weights, means, and the covariances' factor."""


def covariance_factor(covariances, covariance_type):
    """The covariances' square root: lower Cholesky factors (full, tied) or standard deviations (diag, spherical).

    A Cholesky factor of the covariance variable's own value costs nothing:
    its transform builds the matrix from a factor marked lower triangular,
    and PyTensor's rewrites return that factor.
    """
    if covariance_type in ("full", "tied"):
        return pt.linalg.cholesky(covariances)
    return pt.sqrt(covariances)


def log_joint(x, *, covariance_type, weights, means, covariances):
    """``log w_k + log N(x_i | mu_k, Sigma_k)`` for every row and component, shape (n, K).

    ``x`` (n, d) data; the parameters as the model names and shapes them.
    Normalised over k, it is each row's posterior assignment probability given
    the parameters.
    """
    factor = covariance_factor(covariances, covariance_type)
    return pt.log(weights) + component_logp(x, means, factor, covariance_type=covariance_type)


def component_logp(value, means, factor, *, covariance_type):
    """Log density of every row under every component, shape (n, K).

    ``value`` (n, d); ``means`` (K, d); ``factor`` the covariances' square
    root: full (K, d, d) and tied (d, d) lower Cholesky factors, diag (K, d)
    and spherical (K,) standard deviations. One batched triangular solve
    whitens every row for every component.
    """
    d = value.shape[-1]
    residuals = value[None, :, :] - means[:, None, :]
    if covariance_type in ("full", "tied"):
        whitened = solve_triangular(factor, pt.swapaxes(residuals, -1, -2), lower=True)
        squared = pt.sum(whitened**2, axis=-2)
        log_det = pt.sum(pt.log(pt.diagonal(factor, axis1=-2, axis2=-1)), axis=-1)
    elif covariance_type == "diag":
        squared = pt.sum((residuals / factor[:, None, :]) ** 2, axis=-1)
        log_det = pt.sum(pt.log(factor), axis=-1)
    else:
        squared = pt.sum(residuals**2, axis=-1) / factor[:, None] ** 2
        log_det = d * pt.log(factor)
    log_density = -0.5 * squared - pt.shape_padright(log_det) - 0.5 * d * np.log(2 * np.pi)
    return log_density.T


def mixture_logp(value, weights, means, factor, *, covariance_type):
    """Log density of every row of ``value`` (n, d) under the mixture, shape (n,).

    ``logsumexp_k(log w_k + log N(x_i | mu_k, Sigma_k))``: the explicit-assignment
    model summed over each row's assignment, EM's normaliser.
    """
    joint = pt.log(weights) + component_logp(value, means, factor, covariance_type=covariance_type)
    return logsumexp(joint, axis=-1)


def _observed_logp(value, weights, means, factor, *, covariance_type):
    # PyMC hands the parameters with a leading batch axis of length 1, for the rows.
    core = {"weights": 1, "means": 2, "factor": {"full": 3, "tied": 2, "diag": 2, "spherical": 1}[covariance_type]}
    weights, means, factor = (
        parameter[(0,) * (parameter.ndim - core[name])]
        for name, parameter in (("weights", weights), ("means", means), ("factor", factor))
    )
    return mixture_logp(value, weights, means, factor, covariance_type=covariance_type)


def _mixture_random(weights, means, factor, rng=None, size=None, *, covariance_type):
    n_components, d = np.shape(means)
    n = int(np.prod(size)) if size is not None else 1
    labels = rng.choice(n_components, size=n, p=weights)
    noise = rng.standard_normal((n, d))
    if covariance_type == "full":
        draws = means[labels] + np.einsum("nij,nj->ni", factor[labels], noise)
    elif covariance_type == "tied":
        draws = means[labels] + noise @ factor.T
    elif covariance_type == "diag":
        draws = means[labels] + noise * factor[labels]
    else:
        draws = means[labels] + noise * factor[labels, None]
    return draws.reshape((*(size or ()), d))
