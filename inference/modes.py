"""Several optima: the distinct end points of EM's restarts, and which one each chain explores.

EM climbs to a local maximum of its objective; ``n_init`` restarts may end at
different ones. Every restart's parameters are in canonical component order
(the models' ordering constraint), so two restarts reached the same optimum
exactly when their parameters agree, with no relabelling needed.
"""

import numpy as np
import pandas as pd
import xarray as xr

from .em import EMResult

__all__ = ["chain_optima", "distinct_optima"]


def _flat(params) -> pd.Series:
    """Every parameter entry as one value, labelled ``name[i, j]`` as ArviZ labels it."""
    values = {}
    for name, value in params.items():
        value = np.asarray(value)
        for index in np.ndindex(value.shape):
            values[f"{name}[{', '.join(map(str, index))}]" if index else name] = float(value[index])
    return pd.Series(values)


def distinct_optima(result: EMResult, *, atol: float = 1e-4) -> pd.DataFrame:
    """The distinct optima that ``result``'s restarts reached, best first.

    Restarts are taken from the highest objective down; each joins the first
    optimum whose parameters all agree with its own within ``atol`` (absolute),
    or starts a new one. EM at the comparison's tolerance (1e-10 in the
    objective) pins parameters to about 1e-6, so the default ``atol`` merges
    restarts that ended at one optimum and separates genuinely different ones.

    Returns
    -------
    pandas.DataFrame
        One row per optimum (index ``optimum``, 0 the best): ``objective``
        (the best restart's), ``n_restarts`` reaching it, ``n_converged``
        among them, then one column per parameter entry (``theta[0]``, ...)
        at the optimum's best restart.
    """
    if not np.isfinite(atol) or atol <= 0:
        raise ValueError(f"atol: expected a number > 0, got {atol!r}")
    restarts = sorted(result.restarts, key=lambda restart: restart.objective, reverse=True)
    optima: list[dict] = []
    for restart in restarts:
        params = _flat(restart.params)
        match = next((optimum for optimum in optima if np.allclose(optimum["params"], params, rtol=0, atol=atol)), None)
        if match is None:
            optima.append({"params": params, "objective": restart.objective, "n_restarts": 0, "n_converged": 0})
            match = optima[-1]
        match["n_restarts"] += 1
        match["n_converged"] += int(restart.converged)
    table = pd.DataFrame(
        [
            {
                "objective": optimum["objective"],
                "n_restarts": optimum["n_restarts"],
                "n_converged": optimum["n_converged"],
                **optimum["params"],
            }
            for optimum in optima
        ]
    )
    return table.rename_axis("optimum")


def chain_optima(posterior: xr.Dataset, optima: pd.DataFrame) -> pd.DataFrame:
    """Which optimum each chain's posterior mean lies closest to.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dims (chain, draw, ...) of every parameter in ``optima``
        (for instance ``tree["posterior"].dataset``).
    optima : pandas.DataFrame
        From :func:`distinct_optima`; its parameter columns are matched to the
        posterior's variables by name.

    Returns
    -------
    pandas.DataFrame
        One row per chain (index ``chain``): ``optimum``, the nearest optimum
        in Euclidean distance over all parameter entries, ``distance`` to it,
        and ``distance_to_next`` (to the second nearest; NaN with one
        optimum), so that a chain halfway between two optima shows.
    """
    parameters = {column.partition("[")[0] for column in optima.columns}
    names = [name for name in posterior.data_vars if name in parameters]
    if not names:
        raise ValueError(f"posterior: none of its variables {list(posterior.data_vars)} is a parameter of optima")
    means = posterior[names].mean("draw")
    chain_means = pd.DataFrame(
        [_flat({name: means[name].sel(chain=chain).values for name in names}) for chain in means["chain"].values],
        index=pd.Index(means["chain"].values, name="chain"),
    )
    missing = set(chain_means.columns) - set(optima.columns)
    if missing:
        raise ValueError(f"optima: lacks the posterior's parameter entries {sorted(missing)}")
    centres = optima[chain_means.columns].to_numpy()
    distances = np.linalg.norm(chain_means.to_numpy()[:, None, :] - centres[None, :, :], axis=2)
    order = np.argsort(distances, axis=1)
    rows = np.arange(distances.shape[0])
    return pd.DataFrame(
        {
            "optimum": optima.index.to_numpy()[order[:, 0]],
            "distance": distances[rows, order[:, 0]],
            "distance_to_next": distances[rows, order[:, 1]] if len(optima) > 1 else np.nan,
        },
        index=chain_means.index,
    )
