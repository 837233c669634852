"""How often EM's Wald intervals and the posterior's HDIs cover the truth, over simulated data sets.

:func:`coverage_study` simulates replicate data sets from a known truth (as
:func:`inference.growth.convergence_with_data` does), fits EM's MAP with Louis'
standard errors and samples the posterior of the marginalized model, both
under one prior, and counts how often each method's 94% interval holds the
truth.

PyMC's own JAX samplers bake the observed data into the compiled graph as
constants, so every data set would be traced and compiled again (seconds
each), while sampling one takes milliseconds. Here the constants that differ
between the replicates' models (the observations, and for the Gaussian
mixture the default prior's mean and scale, which are computed from the data)
become inputs of one JAX function that runs NUTS: it is traced and compiled
for the first replicate and serves every other.
"""

from collections.abc import Mapping
from dataclasses import dataclass
import os
from pathlib import Path
import time

import arviz_stats
from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
from pytensor.graph.basic import Constant
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors
from scipy import stats

from .bayes import _jax
from .compare import CI_PROB
from .em import BetaDirichletPrior, EMResult, GaussianMixturePrior, wald_interval
from .em.checks import as_real_array, check_positive_int, check_random_state, check_simplex
from .growth import DEFAULT_TRUTH, PROBLEMS, simulate_and_fit, labelled
from .plots import save_figure
from .verdict import R_HAT_LIMIT

__all__ = ["CoverageStudy", "coverage_study", "plot_coverage", "save_coverage_plot"]

MC_PROB = 0.95
"""Probability of the Wilson intervals drawn around each coverage: the Monte Carlo error of R replicates."""


@dataclass(frozen=True)
class CoverageStudy:
    """EM's Wald intervals and the posterior's HDIs (both at :data:`~inference.compare.CI_PROB`) against the truth.

    Attributes
    ----------
    problem : {"two-coins", "gmm"}
    n : int
        Experiments (two-coins) or observations (gmm) per replicate.
    table : pandas.DataFrame
        One row per scalar parameter (labelled as ArviZ labels them, e.g.
        ``theta[0]``): ``truth``; ``em_wald_coverage`` and ``hdi_coverage``,
        the fraction of replicates whose interval holds the truth;
        ``em_wald_mean_width`` and ``hdi_mean_width``; ``n_replicates``;
        ``n_r_hat_failed``, the replicates where some parameter's r_hat
        exceeds 1.01, left out of the two HDI columns (their chains did not
        agree, so their HDI is not the posterior's); ``n_se_failed``, the
        replicates where EM's standard error is not finite, left out of the
        two Wald columns.
    records : pandas.DataFrame
        Index (``replicate``, ``parameter``): ``truth``, ``em_map``,
        ``em_se``, ``wald_lb``, ``wald_ub``, ``wald_covers``,
        ``posterior_mean``, ``hdi_lb``, ``hdi_ub``, ``hdi_covers``, ``r_hat``
        and ``r_hat_ok`` (at most 1.01, or the draws constant, as a weight
        fixed at 1 by a single component).
    replicates : pandas.DataFrame
        One row per replicate: ``em_converged``, ``max_r_hat``, ``r_hat_ok``
        (every parameter's), ``divergences`` and
        ``sampling_seconds`` (wall time of NUTS; the first includes tracing
        and compiling).
    compilations : int
        How often the sampler was traced and compiled: 1 when every
        replicate shared the first one's compiled code.
    """

    problem: str
    n: int
    table: pd.DataFrame
    records: pd.DataFrame
    replicates: pd.DataFrame
    compilations: int

    def to_json_dict(self) -> dict:
        """Plain, JSON-serialisable results: the table, every replicate and every record."""
        return {
            "problem": self.problem,
            "n": self.n,
            "prob": CI_PROB,
            "compilations": self.compilations,
            "parameters": self.table.reset_index(names="parameter").to_dict(orient="records"),
            "replicates": self.replicates.reset_index().to_dict(orient="records"),
            "records": self.records.reset_index().to_dict(orient="records"),
        }


def coverage_study(
    problem: str = "two-coins",
    *,
    n: int = 40,
    replicates: int = 20,
    truth: Mapping | None = None,
    prior: BetaDirichletPrior | GaussianMixturePrior | None = None,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    random_seed: int | None = 0,
    n_init: int = 5,
) -> CoverageStudy:
    """Coverage and width of EM's Wald intervals and the posterior's HDIs over simulated data sets.

    Parameters
    ----------
    problem : {"two-coins", "gmm"}
    n : int
        Data size of every replicate: experiments of 20 flips (two-coins) or
        observations (gmm); at least the number of components (and 2 for gmm).
    replicates : int
        Data sets simulated from ``truth``.
    truth : mapping of str to array-like, optional
        The generating parameters, under the model's names and shapes:
        two-coins ``theta`` (K,) strictly increasing inside (0, 1) and
        ``weights`` (K,); gmm ``weights`` (K,), ``means`` (K, d) with
        ``means[:, 0]`` strictly increasing, ``covariances`` (K, d, d)
        symmetric positive definite. Default
        :data:`inference.growth.DEFAULT_TRUTH`.
    prior : BetaDirichletPrior or GaussianMixturePrior, optional
        Used by EM's MAP and the posterior alike; default the problem's
        default prior (for gmm resolved against each replicate's data).
    draws, tune, chains : int
        NUTS settings; every chain starts, unjittered, at EM's MAP.
    random_seed : int, numpy Generator or None
        Seeds the data, EM's starts and NUTS.
    n_init : int
        EM starts per replicate; the best is kept.

    Returns
    -------
    CoverageStudy

    The posterior's HDI counts only for replicates whose chains agree (every
    r_hat at most 1.01); the others are counted in ``n_r_hat_failed``. With a
    few hundred draws r_hat is itself noisy, so some well-mixed replicates
    may be left out too.
    """
    if problem not in PROBLEMS:
        raise ValueError(f"problem: expected one of {list(PROBLEMS)}, got {problem!r}")
    truth = _check_truth(problem, DEFAULT_TRUTH[problem] if truth is None else truth)
    prior = _check_prior(problem, prior)
    n = _check_n(problem, n, truth["weights"].size)
    replicates = check_positive_int(replicates, "replicates")
    draws = check_positive_int(draws, "draws")
    tune = check_positive_int(tune, "tune")
    chains = check_positive_int(chains, "chains")
    n_init = check_positive_int(n_init, "n_init")
    rng = check_random_state(random_seed, "random_seed")

    first, model = _simulate(problem, n, truth, prior, rng, n_init)
    simulated = [first, *(_simulate(problem, n, truth, prior, rng, n_init)[0] for _ in range(replicates - 1))]
    positions = _varying_positions([replicate.constants for replicate in simulated])
    sampler = _Sampler(*_with_data_containers(model, positions), draws=draws, tune=tune, chains=chains)
    names = [rv.name for rv in model.free_RVs]

    records, summaries = {}, {}
    for index, replicate in enumerate(simulated):
        fit = replicate.fit
        started = time.perf_counter()
        posterior = sampler.sample(
            replicate.seed,
            {name: fit.params[name] for name in names},
            [replicate.constants[position] for position in positions],
        )
        seconds = time.perf_counter() - started
        records[index] = _replicate_records(
            labelled(truth, fit.dims, names), fit, replicate.se, {name: posterior.draws[name] for name in names}
        )
        summaries[index] = {
            "em_converged": fit.converged,
            "max_r_hat": float(records[index]["r_hat"].max()),
            "r_hat_ok": bool(records[index]["r_hat_ok"].all()),
            "divergences": posterior.divergences,
            "sampling_seconds": seconds,
        }
    records = pd.concat(records, names=["replicate", "parameter"])
    summaries = pd.DataFrame.from_dict(summaries, orient="index").rename_axis("replicate")
    return CoverageStudy(
        problem=problem,
        n=n,
        table=_coverage_table(records, summaries["r_hat_ok"]),
        records=records,
        replicates=summaries,
        compilations=sampler.compilations,
    )


# Arguments


def _check_n(problem: str, n, n_components: int) -> int:
    n = check_positive_int(n, "n")
    minimum = n_components if problem == "two-coins" else max(n_components, 2)
    if n < minimum:
        sample = "experiments" if problem == "two-coins" else "observations"
        raise ValueError(f"n: {n_components} components need at least {minimum} {sample} per replicate, got {n}")
    return n


def _check_prior(problem: str, prior):
    expected = BetaDirichletPrior if problem == "two-coins" else GaussianMixturePrior
    if prior is not None and not isinstance(prior, expected):
        raise ValueError(f"prior: expected a {expected.__name__} or None for {problem}, got {prior!r}")
    return prior


def _check_truth(problem: str, truth) -> dict[str, np.ndarray]:
    """``truth`` as float arrays, checked against the model's names, shapes, support and order."""
    required = ("theta", "weights") if problem == "two-coins" else ("weights", "means", "covariances")
    if not isinstance(truth, Mapping) or sorted(truth) != sorted(required):
        keys = sorted(truth) if isinstance(truth, Mapping) else truth
        raise ValueError(f"truth: expected a dict of {list(required)} for {problem}, got {keys!r}")
    values = {name: as_real_array(truth[name], f"truth['{name}']") for name in required}
    weights = values["weights"]
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"truth['weights']: expected shape (n_components,), got {weights.shape}")
    n_components = weights.size
    check_simplex(weights, "truth['weights']", (n_components,))
    if problem == "two-coins":
        theta = values["theta"]
        if theta.shape != (n_components,):
            raise ValueError(f"truth['theta']: expected shape ({n_components},) like weights, got {theta.shape}")
        if not ((theta > 0) & (theta < 1)).all():
            raise ValueError(f"truth['theta']: every bias must lie strictly inside (0, 1), got {theta.tolist()}")
        ordered = theta
    else:
        means, covariances = values["means"], values["covariances"]
        if means.ndim != 2 or means.shape[0] != n_components or not np.isfinite(means).all():
            raise ValueError(
                f"truth['means']: expected finite values of shape ({n_components}, d), got {means.tolist()}"
            )
        d = means.shape[1]
        if covariances.shape != (n_components, d, d):
            raise ValueError(
                f"truth['covariances']: expected shape ({n_components}, {d}, {d}), got {covariances.shape}"
            )
        if not np.isfinite(covariances).all() or not np.allclose(covariances, np.swapaxes(covariances, 1, 2)):
            raise ValueError(f"truth['covariances']: expected finite symmetric matrices, got {covariances.tolist()}")
        if (np.linalg.eigvalsh(covariances)[:, 0] <= 0).any():
            raise ValueError(f"truth['covariances']: expected positive definite matrices, got {covariances.tolist()}")
        ordered = means[:, 0]
    # The models order their components (which removes label switching), so the
    # truth must come in that order for estimate k to be compared with truth k.
    if (np.diff(ordered) <= 0).any():
        name = "theta" if problem == "two-coins" else "means"
        raise ValueError(
            f"truth['{name}']: components must come in the model's strictly increasing order, got {ordered.tolist()}"
        )
    return values


# Data as inputs


@dataclass(frozen=True)
class _Replicate:
    """One simulated data set: EM's MAP, its standard errors, a NUTS seed and its model's constants' values."""

    fit: EMResult
    se: dict[str, np.ndarray]
    seed: int
    constants: list[np.ndarray]


def _simulate(problem: str, n: int, truth: dict, prior, rng: np.random.Generator, n_init: int):
    """Simulate a replicate and fit EM's MAP (see :func:`inference.growth.simulate_and_fit`); returns it and its model."""
    fit, se, model = simulate_and_fit(problem, n, truth, prior, rng, n_init)
    constants = [constant.data for constant in _model_graph(model)[1]]
    return _Replicate(fit=fit, se=se, seed=int(rng.integers(2**31)), constants=constants), model


def _model_graph(model: pm.Model):
    """The model as a FunctionGraph (``pymc.model.fgraph``) and its constants, ordered by the graph's structure.

    Two models built by the same factory with data of the same shapes have the
    same structure, so their constants correspond position by position.
    """
    from pymc.model.fgraph import fgraph_from_model

    fgraph, _ = fgraph_from_model(model)
    return fgraph, [variable for variable in ancestors(fgraph.outputs) if isinstance(variable, Constant)]


def _varying_positions(constants: list[list[np.ndarray]]) -> list[int]:
    """Positions of the constants whose value differs between replicates.

    ``constants`` holds every replicate's constant values, in the order of
    :func:`_model_graph`. Constants that agree everywhere (shapes, fixed prior
    parameters) stay constants of the compiled graph.
    """
    first = constants[0]
    if any(len(values) != len(first) for values in constants):
        raise RuntimeError("the replicates' models differ in structure, so no compiled graph can serve them all")
    return [
        position
        for position, value in enumerate(first)
        if any(not np.array_equal(values[position], value) for values in constants[1:])
    ]


def _with_data_containers(model: pm.Model, positions: list[int]):
    """``model`` rebuilt with the constants at ``positions`` as data containers.

    The containers are shared variables, as ``pm.Data`` makes. Returns the new
    model and its containers, in the order of ``positions``.
    """
    from pymc.model.fgraph import model_from_fgraph

    fgraph, constants = _model_graph(model)
    containers = [
        pytensor.shared(constants[position].data, name=f"coverage_data_{position}") for position in positions
    ]
    fgraph.replace_all(
        [(constants[position], container) for position, container in zip(positions, containers)], import_missing=True
    )
    return model_from_fgraph(fgraph, mutate_fgraph=True), containers


@dataclass(frozen=True)
class _Posterior:
    """One replicate's NUTS run: ``draws`` in the natural space, name -> (chains, draws, *shape)."""

    draws: dict[str, np.ndarray]
    divergences: int


class _Sampler:
    """NUTS (numpyro) on a model whose data are containers, compiled once for all data of their shapes.

    One jitted JAX function takes the chains' keys, the start (natural-space
    values in ``model.free_RVs`` order) and the containers' values; it maps
    the start to the unconstrained space, runs warm-up (step size and diagonal
    mass matrix adapted, as numpyro's NUTS does) and sampling for every chain,
    and maps the draws back. ``compilations`` counts its traces: every trace
    compiles, and a call with the shapes of an earlier one reuses its code.

    Chains run one after another (``lax.map``): vectorized by ``vmap``, NUTS
    took three times as long to trace (3 s against 1 s for the two-coin model)
    and ran slower (0.06 s against 0.04 s per replicate of 2 x 1000 steps).
    """

    def __init__(self, model: pm.Model, containers, *, draws: int, tune: int, chains: int):
        from pymc.initial_point import make_initial_point_expression
        from pymc.sampling.jax import get_jaxified_graph

        jax = _jax()
        self.model, self.draws, self.tune, self.chains = model, draws, tune, chains
        self.compilations = 0
        inputs = [container.type() for container in containers]
        starts = [rv.type() for rv in model.free_RVs]
        unconstrained = make_initial_point_expression(
            free_rvs=model.free_RVs,
            rvs_to_transforms=model.rvs_to_transforms,
            initval_strategies=dict(zip(model.free_RVs, starts)),
            jitter_rvs=set(),
            return_transformed=True,
        )
        log_density, *rest = graph_replace(
            [model.logp(), *unconstrained, *model.replace_rvs_by_values(model.free_RVs)],
            dict(zip(containers, inputs)),
            strict=False,
        )
        k = len(starts)
        self._log_density = get_jaxified_graph(inputs=[*model.value_vars, *inputs], outputs=[log_density])
        self._to_unconstrained = get_jaxified_graph(inputs=[*starts, *inputs], outputs=rest[:k])
        self._to_natural = get_jaxified_graph(inputs=[*model.value_vars, *inputs], outputs=rest[k:])
        self._run = jax.jit(self._chains)

    def _chains(self, keys, start, data):
        from jax import lax, vmap
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.hmc import hmc

        # Python runs this body only while JAX traces it, once per compilation.
        self.compilations += 1
        flat_start, unravel = ravel_pytree(list(self._to_unconstrained(*start, *data)))

        def potential(flat):
            return -self._log_density(*unravel(flat), *data)[0]

        init_kernel, sample_kernel = hmc(potential_fn=potential, algo="NUTS")

        def chain(key):
            def step(state, _):
                state = sample_kernel(state)
                return state, (state.z, state.diverging)

            state = init_kernel(flat_start, self.tune, rng_key=key)
            _, (positions, diverging) = lax.scan(step, state, length=self.tune + self.draws)
            return positions[self.tune :], diverging[self.tune :]

        positions, diverging = lax.map(chain, keys)
        natural = vmap(vmap(lambda flat: self._to_natural(*unravel(flat), *data)))(positions)
        return natural, diverging

    def sample(self, seed: int, start: dict[str, np.ndarray], data: list[np.ndarray]) -> _Posterior:
        """The posterior given ``data`` (the containers' values), every chain started at ``start``.

        ``start`` maps every free variable's name to its natural-space value.
        """
        jax = _jax()
        keys = jax.random.split(jax.random.PRNGKey(seed), self.chains)
        natural, diverging = self._run(
            keys, [np.asarray(start[rv.name], dtype=float) for rv in self.model.free_RVs], tuple(data)
        )
        draws = {rv.name: np.asarray(values) for rv, values in zip(self.model.free_RVs, natural, strict=True)}
        return _Posterior(draws=draws, divergences=int(np.asarray(diverging).sum()))


# Summaries


def _replicate_records(
    truth: pd.Series, fit: EMResult, se: dict[str, np.ndarray], draws: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One replicate's intervals beside the truth, one row per scalar parameter.

    ``truth`` is labelled as :func:`inference.growth.labelled` labels; ``fit``
    is EM's MAP and ``se`` its standard errors, shaped like ``fit.params``;
    ``draws`` maps each free variable to its draws (chains, draws, *shape).
    """
    names = list(draws)
    # ArviZ reduces a raw array over its last axis: put the flattened draws there.
    pooled = {name: np.moveaxis(values.reshape(-1, *values.shape[2:]), 0, -1) for name, values in draws.items()}
    hdi = {name: arviz_stats.hdi(values, prob=CI_PROB) for name, values in pooled.items()}
    # Constant draws (a single component's weight) have no r_hat: NaN, without a warning.
    with np.errstate(divide="ignore", invalid="ignore"):
        r_hat = {name: arviz_stats.rhat(values, chain_axis=0, draw_axis=1) for name, values in draws.items()}
    frame = pd.DataFrame(
        {
            "truth": truth,
            "em_map": labelled(fit.params, fit.dims, names),
            "em_se": labelled(se, fit.dims, names),
            "posterior_mean": labelled({name: values.mean(-1) for name, values in pooled.items()}, fit.dims, names),
            "hdi_lb": labelled({name: values[..., 0] for name, values in hdi.items()}, fit.dims, names),
            "hdi_ub": labelled({name: values[..., 1] for name, values in hdi.items()}, fit.dims, names),
            "r_hat": labelled(r_hat, fit.dims, names),
        }
    )
    frame["wald_lb"], frame["wald_ub"] = wald_interval(frame["em_map"], frame["em_se"], prob=CI_PROB)
    frame["wald_covers"] = (frame["wald_lb"] <= frame["truth"]) & (frame["truth"] <= frame["wald_ub"])
    frame["hdi_covers"] = (frame["hdi_lb"] <= frame["truth"]) & (frame["truth"] <= frame["hdi_ub"])
    # A parameter the model fixes (a single component's weight) has nothing to mix.
    frame["r_hat_ok"] = (frame["r_hat"] <= R_HAT_LIMIT) | (frame["hdi_lb"] == frame["hdi_ub"])
    columns = ["truth", "em_map", "em_se", "wald_lb", "wald_ub", "wald_covers"]
    return frame[[*columns, "posterior_mean", "hdi_lb", "hdi_ub", "hdi_covers", "r_hat", "r_hat_ok"]]


def _coverage_table(records: pd.DataFrame, r_hat_ok: pd.Series) -> pd.DataFrame:
    """Coverage and mean width per parameter, each method over the replicates where its interval stands.

    ``records`` as :attr:`CoverageStudy.records`; ``r_hat_ok`` (replicate) says
    whose chains agree. A Wald interval stands where EM's SE is finite.
    """
    parameters = records.index.get_level_values("parameter").unique()
    mixed = records.index.get_level_values("replicate").map(r_hat_ok).to_numpy(dtype=bool)
    finite_se = np.isfinite(records["em_se"].to_numpy())

    def per_parameter(values: pd.Series, kept: np.ndarray, how: str) -> pd.Series:
        return values[kept].groupby(level="parameter").agg(how).reindex(parameters)

    everything = np.ones(len(records), dtype=bool)
    return pd.DataFrame(
        {
            "truth": per_parameter(records["truth"], everything, "first"),
            "em_wald_coverage": per_parameter(records["wald_covers"].astype(float), finite_se, "mean"),
            "hdi_coverage": per_parameter(records["hdi_covers"].astype(float), mixed, "mean"),
            "em_wald_mean_width": per_parameter(records["wald_ub"] - records["wald_lb"], finite_se, "mean"),
            "hdi_mean_width": per_parameter(records["hdi_ub"] - records["hdi_lb"], mixed, "mean"),
            "n_replicates": per_parameter(records["truth"], everything, "size"),
            "n_r_hat_failed": per_parameter(pd.Series(~mixed, index=records.index), everything, "sum"),
            "n_se_failed": per_parameter(pd.Series(~finite_se, index=records.index), everything, "sum"),
        }
    ).rename_axis("parameter")


# Pictures


def _wilson_interval(successes, trials, *, prob: float = MC_PROB) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion, shape of ``successes``; NaN where ``trials`` is 0.

    Unlike ``p -/+ z sqrt(p (1 - p) / trials)`` it does not shrink to a point at 0 or 1.
    """
    z = stats.norm.ppf((1 + prob) / 2)
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / trials
        centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
        half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return centre - half, centre + half


def plot_coverage(study: CoverageStudy) -> Figure:
    """Coverage per parameter for both methods, with 95% Wilson intervals for the Monte Carlo error, and mean widths.

    The dashed line is the nominal coverage; a method whose error bars lie
    below it covers the truth less often than it claims.
    """
    table = study.table
    parameters = list(table.index)
    positions = np.arange(len(parameters))
    figure = Figure(figsize=(4.0 + 1.2 * len(parameters), 3.5), layout="constrained")
    coverage_axis, width_axis = figure.subplots(1, 2)
    methods = (
        ("em_wald", "EM Wald", "tab:red", table["n_replicates"] - table["n_se_failed"]),
        ("hdi", "posterior HDI", "tab:blue", table["n_replicates"] - table["n_r_hat_failed"]),
    )
    for offset, (column, label, colour, trials) in zip((-0.12, 0.12), methods):
        coverage = table[f"{column}_coverage"].to_numpy()
        lower, upper = _wilson_interval(np.round(coverage * trials), trials)
        coverage_axis.errorbar(
            positions + offset, coverage, yerr=[coverage - lower, upper - coverage], fmt="o", color=colour, label=label
        )
        width_axis.bar(positions + offset, table[f"{column}_mean_width"], width=0.24, color=colour, label=label)
    coverage_axis.axhline(CI_PROB, color="grey", linestyle="--", linewidth=1, label=f"nominal {CI_PROB:g}")
    coverage_axis.set(ylabel="coverage", ylim=(None, 1.02), title=f"{study.problem}, n = {study.n}")
    width_axis.set(ylabel="mean width", title=f"{int(table['n_replicates'].iloc[0])} replicates")
    for axis in (coverage_axis, width_axis):
        axis.set_xticks(positions, parameters, rotation=45, ha="right")
    coverage_axis.legend(fontsize="small")
    return figure


def save_coverage_plot(study: CoverageStudy, directory: str | os.PathLike) -> Path:
    """Write :func:`plot_coverage` of ``study`` as ``coverage.png`` into ``directory``, atomically; return its path."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory: {directory} does not exist or is not a directory")
    path = directory / "coverage.png"
    save_figure(plot_coverage(study), path)
    return path
