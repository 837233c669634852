"""Standard errors of EM estimates: Louis' observed information and the parametric bootstrap.

Louis (1982) writes the observed information, minus the Hessian of the
marginal log-likelihood, through the complete-data log density
``log p(x_i, z_i = k)`` and the responsibilities ``r_ik``:

    I_obs = sum_i [ E(B_i) - E(s_i s_i^T) + E(s_i) E(s_i)^T ],

where ``s_ik`` and ``B_ik`` are the score and minus the Hessian of row ``i``'s
complete-data log density had it come from component ``k``, and ``E`` averages
over ``k`` with weights ``r_ik``. Rows' assignments are independent, so the
missing information is the sum of per-row covariances of the score. The
identity is exact at any parameter value, not only at the MLE.

For a MAP result (``objective_name == "log_posterior"``) minus the Hessian of
the log prior density, in the same parametrisation, is added: the result is
the curvature of the log posterior, and its inverse the covariance of the
Laplace approximation at the MAP.

Free parameters (the order of the information matrix and of its labels):

- ``weights``: the first K - 1, with ``weights[K-1] = 1 - sum`` (no free
  weight when K = 1 or when the weights are held fixed);
- binomial mixture: ``theta`` (K,), then the free weights;
- Gaussian mixture: the free weights, ``means`` (K, d) row by row, then the
  covariances, each a linear combination ``Sigma = sum_j sigma_j E_j`` of a
  basis per covariance type: "full" and "tied" take the lower-triangular
  entries ``Sigma[a, b]``, ``a >= b`` (in ``np.tril_indices`` order, with
  ``E`` symmetric, so ``Sigma[b, a]`` is the same parameter), "diag" the K d
  variances, "spherical" the K variances. Per-component covariances are
  listed component by component; "tied" has one block.

Standard errors of entries that are not free (the last weight, the upper
triangle of a covariance) follow by the delta method: each parameter entry is
a linear function ``J theta_free`` of the free vector and its variance is
``J Cov J^T``; for the last weight ``J = -1^T`` on the free weights. Fixed
weights have standard error 0.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special, stats

from .binomial import fit_binomial_mixture, log_joint as binomial_log_joint
from .checks import check_counts, check_positive_int, check_random_state
from .gaussian import (
    GaussianMixtureResult,
    _check_x,
    fit_gaussian_mixture,
    log_joint as gaussian_log_joint,
)
from .priors import BetaDirichletPrior, GaussianMixturePrior
from .result import EMResult

__all__ = [
    "bootstrap_standard_errors_binomial",
    "bootstrap_standard_errors_gaussian",
    "observed_information_binomial",
    "observed_information_gaussian",
    "standard_errors_binomial",
    "standard_errors_gaussian",
    "wald_interval",
]


###############################################################################
# The parametrisation: labels of the free vector and the delta-method map back


@dataclass(frozen=True)
class _Parametrization:
    """Free parameters' ``labels`` (n_free,) and, per parameter name, ``jacobians``
    of shape (*parameter shape, n_free): every entry as a linear function of the
    free vector."""

    labels: tuple[str, ...]
    jacobians: dict[str, np.ndarray]


def _weight_jacobian(n_components: int, offset: int, n_free: int, free: bool) -> np.ndarray:
    """Jacobian (n_components, n_free) of all weights in the free weights at ``offset``."""
    jacobian = np.zeros((n_components, n_free))
    if free:
        jacobian[np.arange(n_components - 1), offset + np.arange(n_components - 1)] = 1.0
        jacobian[n_components - 1, offset : offset + n_components - 1] = -1.0
    return jacobian


def _weight_gradients(weights: np.ndarray) -> np.ndarray:
    """Gradients (n_components, n_components - 1) of ``log weights[k]`` in the free weights.

    Row k is ``e_k / w_k`` for k < K - 1 and ``-1 / w_{K-1}`` for the last; the
    Hessian of ``log weights[k]`` is minus the outer product of row k with itself.
    """
    n_components = weights.size
    gradients = np.zeros((n_components, n_components - 1))
    gradients[np.arange(n_components - 1), np.arange(n_components - 1)] = 1 / weights[:-1]
    gradients[-1] = -1 / weights[-1]
    return gradients


def _covariance_basis(covariance_type: str, n_features: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Basis matrices (n_basis, n_features, n_features) of one covariance, and each one's index.

    The index locates the parameter within the covariance's own array: ``(a, b)``
    for "full" and "tied", ``(j,)`` for "diag", ``()`` for "spherical".
    """
    eye = np.eye(n_features)
    if covariance_type in ("full", "tied"):
        rows, columns = np.tril_indices(n_features)
        basis = np.einsum("ja,jb->jab", eye[rows], eye[columns])
        basis = basis + np.swapaxes(basis, 1, 2) * (rows != columns)[:, None, None]
        return basis, list(zip(rows.tolist(), columns.tolist()))
    if covariance_type == "diag":
        return np.einsum("ja,jb->jab", eye, eye), [(j,) for j in range(n_features)]
    return eye[None], [()]


def _binomial_parametrization(n_components: int, free_weights: bool) -> _Parametrization:
    n_weights = n_components - 1 if free_weights else 0
    n_free = n_components + n_weights
    labels = [f"theta[{k}]" for k in range(n_components)] + [f"weights[{k}]" for k in range(n_weights)]
    return _Parametrization(
        labels=tuple(labels),
        jacobians={
            "theta": np.eye(n_components, n_free),
            "weights": _weight_jacobian(n_components, n_components, n_free, free_weights),
        },
    )


def _gaussian_parametrization(n_components: int, n_features: int, covariance_type: str) -> _Parametrization:
    basis, indices = _covariance_basis(covariance_type, n_features)
    n_blocks = 1 if covariance_type == "tied" else n_components
    n_means = n_components * n_features
    n_free = n_components - 1 + n_means + n_blocks * len(indices)
    labels = [f"weights[{k}]" for k in range(n_components - 1)]
    labels += [f"means[{k}, {j}]" for k in range(n_components) for j in range(n_features)]
    means_jacobian = np.zeros((n_components, n_features, n_free))
    means_jacobian.reshape(n_means, n_free)[:, n_components - 1 : n_components - 1 + n_means] = np.eye(n_means)
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    covariances_jacobian = np.zeros((*shape, n_free))
    position = n_components - 1 + n_means
    for block in range(n_blocks):
        prefix = () if covariance_type == "tied" else (block,)
        for index, matrix in zip(indices, basis):
            labels.append(f"covariances[{', '.join(map(str, prefix + index))}]")
            if covariance_type in ("full", "tied"):
                # Sigma[a, b] and Sigma[b, a] are the same parameter.
                covariances_jacobian[prefix][..., position] = matrix != 0
            else:
                covariances_jacobian[prefix + index + (position,)] = 1.0
            position += 1
    return _Parametrization(
        labels=tuple(labels),
        jacobians={
            "weights": _weight_jacobian(n_components, 0, n_free, True),
            "means": means_jacobian,
            "covariances": covariances_jacobian,
        },
    )


###############################################################################
# Louis' identity and the way back to standard errors


def _louis_information(
    scores: np.ndarray, expected_hessian: np.ndarray, responsibilities: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Observed information (n_free, n_free) by Louis' method.

    ``scores`` (n_rows, n_components, n_free) is the complete-data score of
    row i had it come from component k; ``expected_hessian`` (n_free, n_free)
    the complete-data Hessian summed over rows (each ``counts[i]`` times) and
    averaged over components under ``responsibilities`` (n_rows, n_components).
    """
    mean_scores = np.einsum("nk,nkp->np", responsibilities, scores)
    second_moment = np.einsum("n,nk,nkp,nkq->pq", counts, responsibilities, scores, scores)
    outer_mean = np.einsum("n,np,nq->pq", counts, mean_scores, mean_scores)
    information = -expected_hessian - second_moment + outer_mean
    return (information + information.T) / 2


def _covariance(information: np.ndarray) -> np.ndarray:
    """The inverse (n_free, n_free) of a positive-definite ``information``.

    An information whose smallest eigenvalue is within round-off of 0
    (``n_free * eps`` of the largest) counts as singular: its inverse would be
    noise.
    """
    eigenvalues = linalg.eigvalsh(information)
    if eigenvalues[0] <= information.shape[0] * np.finfo(float).eps * eigenvalues[-1]:
        raise ValueError(
            "result: the observed information is not positive definite at these estimates (an empty or "
            "duplicated component, an estimate on the boundary, or a fit that has not converged), so the "
            "standard errors are undefined"
        )
    return linalg.cho_solve(linalg.cho_factor(information, lower=True), np.eye(information.shape[0]))


def _delta_method(covariance: np.ndarray, parametrization: _Parametrization) -> dict[str, np.ndarray]:
    """Standard errors shaped like each parameter: ``sqrt(J Cov J^T)`` entry by entry."""
    return {
        name: np.sqrt(np.einsum("...p,pq,...q->...", jacobian, covariance, jacobian))
        for name, jacobian in parametrization.jacobians.items()
    }


def _check_prior(prior, expected_type: type, result: EMResult):
    """``prior`` must be given exactly when ``result`` is a MAP, and be of ``expected_type``."""
    if prior is not None and not isinstance(prior, expected_type):
        raise ValueError(f"prior: expected a {expected_type.__name__} or None, got {prior!r}")
    if result.objective_name == "log_posterior" and prior is None:
        raise ValueError("prior: the result is a MAP (objective 'log_posterior'); pass the prior it was fitted with")
    if result.objective_name == "log_likelihood" and prior is not None:
        raise ValueError("prior: the result is a maximum-likelihood fit (objective 'log_likelihood'); pass prior=None")
    return prior


###############################################################################
# Binomial mixture


def _check_binomial_result(result) -> EMResult:
    if not isinstance(result, EMResult) or set(result.params) != {"theta", "weights"}:
        raise ValueError(f"result: expected the EMResult of fit_binomial_mixture, got {type(result).__name__}")
    return result


def observed_information_binomial(
    result: EMResult,
    heads,
    flips,
    *,
    prior: BetaDirichletPrior | None = None,
    fix_weights: bool = False,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Observed information of a binomial-mixture fit, by Louis' method.

    Parameters
    ----------
    result : EMResult
        From :func:`fit_binomial_mixture`.
    heads : array-like of shape (n_experiments,)
    flips : int or array-like of shape (n_experiments,)
        The data ``result`` was fitted to.
    prior : BetaDirichletPrior, optional
        The prior of a MAP fit (required then, and only then); adds minus the
        Hessian of the log prior (the Dirichlet term only with free weights).
    fix_weights : bool
        As in the fit: the weights are then not parameters.

    Returns
    -------
    information : ndarray of shape (n_free, n_free)
        Minus the Hessian of the objective in ``theta`` (K,) and the first
        K - 1 weights (unless fixed); its inverse is the covariance of the
        estimates.
    labels : tuple of str, length n_free
        ``"theta[k]"`` and ``"weights[k]"``, in the order of the rows.
    """
    result = _check_binomial_result(result)
    prior = _check_prior(prior, BetaDirichletPrior, result)
    heads, flips = check_counts(heads, flips)
    n_experiments = result.responsibilities.shape[0]
    if heads.size != n_experiments:
        raise ValueError(f"heads: expected the {n_experiments} experiments the result was fitted to, got {heads.size}")
    theta, weights = result.params["theta"], result.params["weights"]
    n_components = theta.size
    free_weights = not fix_weights and n_components > 1
    parametrization = _binomial_parametrization(n_components, free_weights)
    n_free = len(parametrization.labels)

    pairs, counts = np.unique(np.stack([heads, flips], axis=1), axis=0, return_counts=True)
    heads, flips = pairs[:, 0, None], pairs[:, 1, None]
    joint = binomial_log_joint(pairs[:, 0], pairs[:, 1], theta, weights)
    responsibilities = np.exp(joint - special.logsumexp(joint, axis=1, keepdims=True))
    tails = flips - heads

    # d/dtheta_k and d2/dtheta_k2 of log Binomial(h | f, theta_k), shape (n_rows, n_components).
    theta_scores = heads / theta - tails / (1 - theta)
    theta_curvatures = -heads / theta**2 - tails / (1 - theta) ** 2
    scores = np.zeros((counts.size, n_components, n_free))
    scores[:, np.arange(n_components), np.arange(n_components)] = theta_scores
    expected_hessian = np.zeros((n_free, n_free))
    expected_hessian[np.arange(n_components), np.arange(n_components)] = counts @ (responsibilities * theta_curvatures)
    if free_weights:
        gradients = _weight_gradients(weights)
        expected_n = counts @ responsibilities
        scores[:, :, n_components:] = gradients
        expected_hessian[n_components:, n_components:] = -np.einsum("k,ka,kb->ab", expected_n, gradients, gradients)
    information = _louis_information(scores, expected_hessian, responsibilities, counts)

    if prior is not None:
        theta_prior = (prior.a - 1) / theta**2 + (prior.b - 1) / (1 - theta) ** 2
        information[np.arange(n_components), np.arange(n_components)] += theta_prior
        if free_weights:
            information[n_components:, n_components:] += (prior.alpha - 1) * gradients.T @ gradients
    return information, parametrization.labels


def standard_errors_binomial(
    result: EMResult,
    heads,
    flips,
    *,
    prior: BetaDirichletPrior | None = None,
    fix_weights: bool = False,
) -> dict[str, np.ndarray]:
    """Standard errors of a binomial-mixture fit from Louis' observed information.

    Arguments as for :func:`observed_information_binomial`. Returns ``theta``
    and ``weights``, each of shape (n_components,) like ``result.params``: the
    last weight's by the delta method, fixed weights' 0. For a MAP these are
    the Laplace approximation's posterior standard deviations.
    """
    information, _ = observed_information_binomial(result, heads, flips, prior=prior, fix_weights=fix_weights)
    n_components = result.params["theta"].size
    parametrization = _binomial_parametrization(n_components, not fix_weights and n_components > 1)
    return _delta_method(_covariance(information), parametrization)


def bootstrap_standard_errors_binomial(
    result: EMResult,
    flips,
    *,
    prior: BetaDirichletPrior | None = None,
    fix_weights: bool = False,
    n_boot: int = 200,
    random_state=None,
) -> dict[str, np.ndarray]:
    """Parametric-bootstrap standard errors of a binomial-mixture fit.

    Simulates ``n_boot`` data sets of the fitted mixture with the same
    ``flips`` (int or array of shape (n_experiments,)), refits each by EM from
    ``result.params`` (with the same ``prior`` and ``fix_weights``) and returns
    the standard deviations (ddof=1) of the refits' ``theta`` and ``weights``,
    each of shape (n_components,), components ordered by ``theta`` as EM
    orders them.
    """
    result = _check_binomial_result(result)
    prior = _check_prior(prior, BetaDirichletPrior, result)
    n_boot = check_positive_int(n_boot, "n_boot")
    if n_boot < 2:
        raise ValueError(f"n_boot: a standard deviation needs at least 2 replicates, got {n_boot}")
    n_experiments = result.responsibilities.shape[0]
    if np.ndim(flips) > 0 and np.size(flips) != n_experiments:
        raise ValueError(
            f"flips: expected a scalar or the {n_experiments} experiments the result was fitted to, "
            f"got {np.size(flips)}"
        )
    _, flips = check_counts(np.zeros(n_experiments, dtype=np.int64), flips)
    rng = check_random_state(random_state)
    theta, weights = result.params["theta"], result.params["weights"]
    refits = []
    for _ in range(n_boot):
        coin = rng.choice(theta.size, size=n_experiments, p=weights)
        heads = rng.binomial(flips, theta[coin])
        refit = fit_binomial_mixture(
            heads, flips, theta.size, init=dict(result.params), prior=prior, fix_weights=fix_weights
        )
        refits.append(refit.params)
    return {name: np.std([refit[name] for refit in refits], axis=0, ddof=1) for name in result.params}


###############################################################################
# Gaussian mixture


def _full_covariances(covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Every component's covariance as a full matrix, shape (n_components, n_features, n_features)."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    variances = np.broadcast_to(covariances.reshape(n_components, -1), (n_components, n_features))
    return variances[:, :, None] * np.eye(n_features)


def _gaussian_derivatives(
    residuals: np.ndarray, precision: np.ndarray, basis: np.ndarray, row_weights: np.ndarray, shrinkage: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and weighted Hessian of ``-1/2 log|Sigma| - shrinkage/2 e^T Sigma^-1 e`` in (mean, sigma).

    ``residuals`` e (n_rows, n_features) are the data minus the mean (or the
    prior mean minus the mean), ``precision`` (n_features, n_features) is
    ``Sigma^-1``, ``basis`` (n_basis, n_features, n_features) the ``E_j`` of
    ``Sigma = sum_j sigma_j E_j``. With ``u = Sigma^-1 e``:

    - score in the mean ``shrinkage u``; in ``sigma_j``
      ``(shrinkage u^T E_j u - tr(Sigma^-1 E_j)) / 2``;
    - Hessian: mean-mean ``-shrinkage Sigma^-1``; mean-sigma_j
      ``-shrinkage Sigma^-1 E_j u``; sigma_i-sigma_j
      ``tr(Sigma^-1 E_i Sigma^-1 E_j) / 2 - shrinkage (E_i u)^T Sigma^-1 (E_j u)``.

    Returns the scores (n_rows, n_features + n_basis) and the Hessian summed
    over rows with ``row_weights`` (n_rows,), shape (n_features + n_basis,
    n_features + n_basis).
    """
    n_features = residuals.shape[1]
    projected = residuals @ precision
    basis_projected = np.einsum("jab,nb->nja", basis, projected)
    precision_basis = np.einsum("ab,jbc->jac", precision, basis)
    sigma_scores = (
        shrinkage * np.einsum("na,nja->nj", projected, basis_projected) - np.einsum("jaa->j", precision_basis)
    ) / 2
    total = row_weights.sum()
    mean_sigma = -shrinkage * np.einsum("n,ab,njb->aj", row_weights, precision, basis_projected)
    sigma_sigma = total * np.einsum("iab,jba->ij", precision_basis, precision_basis) / 2 - shrinkage * np.einsum(
        "n,nia,ab,njb->ij", row_weights, basis_projected, precision, basis_projected
    )
    hessian = np.empty((n_features + basis.shape[0],) * 2)
    hessian[:n_features, :n_features] = -shrinkage * total * precision
    hessian[:n_features, n_features:] = mean_sigma
    hessian[n_features:, :n_features] = mean_sigma.T
    hessian[n_features:, n_features:] = sigma_sigma
    return np.hstack([shrinkage * projected, sigma_scores]), hessian


def _covariance_prior_hessian(
    precision: np.ndarray, basis: np.ndarray, log_det_coefficient: float, scale: np.ndarray
) -> np.ndarray:
    """Hessian (n_basis, n_basis) in sigma of ``-c log|Sigma| - tr(S Sigma^-1) / 2``.

    ``c = log_det_coefficient``, ``S = scale`` (n_features, n_features); the
    entry (i, j) is ``c tr(P E_i P E_j) - tr(S P E_i P E_j P)``, symmetrised,
    with ``P = Sigma^-1`` (n_features, n_features) and ``E = basis``.
    """
    precision_basis = np.einsum("ab,jbc->jac", precision, basis)
    log_det = np.einsum("iab,jba->ij", precision_basis, precision_basis)
    trace = np.einsum("ab,ibc,jcd,da->ij", scale, precision_basis, precision_basis, precision)
    return log_det_coefficient * log_det - (trace + trace.T) / 2


def _covariance_prior_terms(prior, covariance_type: str, n_features: int) -> tuple[float, np.ndarray]:
    """Each type's covariance prior as ``-c log|Sigma| - tr(S Sigma^-1) / 2 + const``: ``(c, S)``.

    InvWishart(nu, Psi) ("full", "tied"): ``c = (nu + d + 1) / 2``, ``S = Psi``.
    InvGamma(nu / 2, Psi_jj / 2) per variance ("diag"): ``c = nu / 2 + 1``,
    ``S = diag(Psi_jj)``. InvGamma(nu / 2, tr(Psi) / (2 d)) on ``Sigma = v I``
    ("spherical"): ``c = (nu / 2 + 1) / d``, ``S = tr(Psi) I / d^2``.
    """
    if covariance_type in ("full", "tied"):
        return (prior.dof + n_features + 1) / 2, prior.scale
    if covariance_type == "diag":
        return prior.dof / 2 + 1, np.diag(np.diag(prior.scale))
    return (prior.dof / 2 + 1) / n_features, np.trace(prior.scale) / n_features**2 * np.eye(n_features)


def _component_positions(
    component: int, n_components: int, n_features: int, n_basis: int, covariance_type: str
) -> np.ndarray:
    """Free-vector positions (n_features + n_basis,) of one component's mean, then covariance, parameters."""
    mean_start = n_components - 1 + component * n_features
    sigma_start = n_components - 1 + n_components * n_features
    if covariance_type != "tied":
        sigma_start += component * n_basis
    return np.r_[mean_start : mean_start + n_features, sigma_start : sigma_start + n_basis]


def _check_gaussian_result(result) -> GaussianMixtureResult:
    if not isinstance(result, GaussianMixtureResult):
        raise ValueError(
            f"result: expected the GaussianMixtureResult of fit_gaussian_mixture, got {type(result).__name__}"
        )
    return result


def observed_information_gaussian(
    result: GaussianMixtureResult,
    x,
    *,
    prior: GaussianMixturePrior | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Observed information of a Gaussian-mixture fit, by Louis' method.

    Every covariance type is covered; the free parameters and their order are
    given in the module docstring. With one feature "full", "diag" and
    "spherical" are the same model and give the same information.

    Parameters
    ----------
    result : GaussianMixtureResult
        From :func:`fit_gaussian_mixture`. Its estimates are used as they are:
        with ``reg_covar > 0`` they are not the exact MLE or MAP, and the
        information is the curvature at them.
    x : array-like of shape (n_samples, n_features) or (n_samples,)
        The data ``result`` was fitted to.
    prior : GaussianMixturePrior, optional
        The prior of a MAP fit (required then, and only then); it is resolved
        against ``x`` as the fit resolved it, and minus the Hessian of its log
        density is added.

    Returns
    -------
    information : ndarray of shape (n_free, n_free)
        Minus the Hessian of the objective in the free parameters; its
        inverse is the covariance of the estimates.
    labels : tuple of str, length n_free
        ``"weights[k]"``, ``"means[k, j]"`` and ``"covariances[...]"``, in the
        order of the rows.
    """
    result = _check_gaussian_result(result)
    prior = _check_prior(prior, GaussianMixturePrior, result)
    x = _check_x(x, nan_remedy="the observed information is for complete data only")
    weights, means, covariances = result.params["weights"], result.params["means"], result.params["covariances"]
    n_components, n_features = means.shape
    if x.shape != (result.responsibilities.shape[0], n_features):
        raise ValueError(
            f"x: expected the shape {(result.responsibilities.shape[0], n_features)} of the data the result "
            f"was fitted to, got {x.shape}"
        )
    covariance_type = result.covariance_type
    parametrization = _gaussian_parametrization(n_components, n_features, covariance_type)
    n_free = len(parametrization.labels)
    basis, _ = _covariance_basis(covariance_type, n_features)
    n_basis = basis.shape[0]
    counts = np.ones(x.shape[0])

    joint = gaussian_log_joint(x, weights, means, covariances, covariance_type)
    responsibilities = np.exp(joint - special.logsumexp(joint, axis=1, keepdims=True))
    precisions = np.linalg.inv(_full_covariances(covariances, covariance_type, n_components, n_features))
    gradients = _weight_gradients(weights)
    expected_n = responsibilities.sum(axis=0)

    scores = np.zeros((x.shape[0], n_components, n_free))
    scores[:, :, : n_components - 1] = gradients
    expected_hessian = np.zeros((n_free, n_free))
    expected_hessian[: n_components - 1, : n_components - 1] = -np.einsum(
        "k,ka,kb->ab", expected_n, gradients, gradients
    )
    for k in range(n_components):
        positions = _component_positions(k, n_components, n_features, n_basis, covariance_type)
        component_scores, component_hessian = _gaussian_derivatives(
            x - means[k], precisions[k], basis, responsibilities[:, k], 1.0
        )
        scores[:, k, positions] = component_scores
        expected_hessian[np.ix_(positions, positions)] += component_hessian
    information = _louis_information(scores, expected_hessian, responsibilities, counts)

    if prior is not None:
        resolved = prior.resolve(x, n_components)
        prior_hessian = np.zeros((n_free, n_free))
        prior_hessian[: n_components - 1, : n_components - 1] = -(resolved.alpha - 1) * gradients.T @ gradients
        log_det_coefficient, scale = _covariance_prior_terms(resolved, covariance_type, n_features)
        for k in range(n_components):
            positions = _component_positions(k, n_components, n_features, n_basis, covariance_type)
            # means[k] ~ N(m, Sigma_k / kappa): a Gaussian term at the prior mean.
            _, mean_hessian = _gaussian_derivatives(
                (resolved.mean - means[k])[None], precisions[k], basis, np.ones(1), resolved.shrinkage
            )
            prior_hessian[np.ix_(positions, positions)] += mean_hessian
            if covariance_type != "tied" or k == 0:
                sigma = positions[n_features:]
                prior_hessian[np.ix_(sigma, sigma)] += _covariance_prior_hessian(
                    precisions[k], basis, log_det_coefficient, scale
                )
        information -= (prior_hessian + prior_hessian.T) / 2
    return information, parametrization.labels


def standard_errors_gaussian(
    result: GaussianMixtureResult,
    x,
    *,
    prior: GaussianMixturePrior | None = None,
) -> dict[str, np.ndarray]:
    """Standard errors of a Gaussian-mixture fit from Louis' observed information.

    Arguments as for :func:`observed_information_gaussian`. Returns
    ``weights``, ``means`` and ``covariances`` shaped like ``result.params``:
    the last weight's by the delta method, and a full or tied covariance's
    ``[a, b]`` and ``[b, a]`` the same. For a MAP these are the Laplace
    approximation's posterior standard deviations.
    """
    information, _ = observed_information_gaussian(result, x, prior=prior)
    n_components, n_features = result.params["means"].shape
    parametrization = _gaussian_parametrization(n_components, n_features, result.covariance_type)
    return _delta_method(_covariance(information), parametrization)


def bootstrap_standard_errors_gaussian(
    result: GaussianMixtureResult,
    *,
    prior: GaussianMixturePrior | None = None,
    reg_covar: float = 1e-6,
    n_boot: int = 200,
    random_state=None,
) -> dict[str, np.ndarray]:
    """Parametric-bootstrap standard errors of a Gaussian-mixture fit.

    Simulates ``n_boot`` data sets of the fitted mixture, each with as many
    rows as the fit's data, refits each by EM from ``result.params`` (same
    covariance type, ``prior`` resolved against each simulated set as the fit
    resolves it, and ``reg_covar``) and returns the standard deviations
    (ddof=1) of the refits, shaped like ``result.params``, components ordered
    by ``means[:, 0]`` as EM orders them.
    """
    result = _check_gaussian_result(result)
    prior = _check_prior(prior, GaussianMixturePrior, result)
    n_boot = check_positive_int(n_boot, "n_boot")
    if n_boot < 2:
        raise ValueError(f"n_boot: a standard deviation needs at least 2 replicates, got {n_boot}")
    rng = check_random_state(random_state)
    weights, means = result.params["weights"], result.params["means"]
    n_components, n_features = means.shape
    n_samples = result.responsibilities.shape[0]
    factors = np.linalg.cholesky(
        _full_covariances(result.params["covariances"], result.covariance_type, n_components, n_features)
    )
    refits = []
    for _ in range(n_boot):
        component = rng.choice(n_components, size=n_samples, p=weights)
        noise = rng.standard_normal((n_samples, n_features))
        x = means[component] + np.einsum("nab,nb->na", factors[component], noise)
        refit = fit_gaussian_mixture(
            x,
            n_components,
            covariance_type=result.covariance_type,
            init=dict(result.params),
            prior=prior,
            reg_covar=reg_covar,
        )
        refits.append(refit.params)
    return {name: np.std([refit[name] for refit in refits], axis=0, ddof=1) for name in result.params}


###############################################################################
# Wald intervals


def wald_interval(estimate, se, *, prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Central Wald interval ``estimate -/+ z se`` with ``z = norm.ppf((1 + prob) / 2)``.

    ``estimate`` and ``se`` broadcast together (for instance one entry of
    :func:`standard_errors_binomial` and the matching ``result.params``);
    returns ``(lower, upper)`` of their broadcast shape. The interval is not
    clipped to the parameter's range (weights and ``theta`` may leave [0, 1]).
    """
    if isinstance(prob, bool) or not isinstance(prob, (int, float, np.floating)) or not 0 < prob < 1:
        raise ValueError(f"prob: expected a number strictly between 0 and 1, got {prob!r}")
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    if (se < 0).any():
        raise ValueError(f"se: standard errors must be >= 0, got {se.tolist()}")
    half_width = stats.norm.ppf((1 + prob) / 2) * se
    return estimate - half_width, estimate + half_width
