"""The ``em-bayes`` command: thin over :mod:`inference` and :mod:`models`.

``em-bayes fit two-coins`` runs EM alone; ``em-bayes compare two-coins`` runs
EM, PyMC's MAP and NUTS side by side; ``em-bayes grow two-coins`` follows EM's
MAP and the posterior as the data grow. Bad input ends the command with one line
on standard error and exit status 2, never a traceback.
"""

import argparse
from contextlib import redirect_stdout
import json
import math
import os
import signal
import sys
import warnings

import numpy as np
import pandas as pd

from models.datasets import SEED_COINS, default_gaussian_data
from models.marks import class_marks

from .em import BetaDirichletPrior, EMResult, GaussianMixturePrior, fit_binomial_mixture, fit_gaussian_mixture
from .em.checks import check_n_components
from .em.gaussian import COVARIANCE_TYPES
from .em.missing import log_likelihoods, missingness_patterns
from .io import MAX_COUNT, check_output_directory, check_output_path, read_coin_csv, read_numeric_csv
from .modes import chain_optima, distinct_optima
from .samplers import DEFAULT_NUTS_SAMPLER, NUTS_SAMPLERS

__all__ = ["main"]


def _numbers(text: str) -> np.ndarray:
    try:
        return np.array([float(item) for item in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _counts(text: str) -> np.ndarray:
    """Comma-separated counts, whole numbers read exactly (a float would round those beyond 2**53)."""
    items = [item.strip() for item in text.split(",")]
    whole = [int(item) for item in items if item.isdigit()]
    if any(count > MAX_COUNT for count in whole):
        raise argparse.ArgumentTypeError(
            f"counts must be at most 2**53 = {MAX_COUNT}, the largest float64 holds exactly, got {max(whole)}"
        )
    return _numbers(text)


def _prior(text: str) -> BetaDirichletPrior | None:
    if text.lower() == "none":
        return None
    values = _numbers(text)
    if values.size not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected A,B or A,B,ALPHA or none, got {text!r}")
    try:
        return BetaDirichletPrior(*map(float, values))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("prior: ")) from None


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
    return value


def _positive(text: str) -> int:
    return _whole_number(text, 1)


def _steps(text: str) -> int:
    """Draws, tuning steps or chains: a whole number from 1 to 2**31 - 1, the most JAX's 32-bit loop counters hold."""
    value = _whole_number(text, 1)
    if value >= 2**31:
        raise argparse.ArgumentTypeError(f"expected at most 2**31 - 1 = {2**31 - 1}, got {text!r}")
    return value


def _seed(text: str) -> int:
    return _whole_number(text, 0)


def _sizes(text: str) -> list[int]:
    """Comma-separated data sizes, each a whole number >= 1."""
    return [_positive(item) for item in text.split(",")]


def _components(text: str) -> range:
    """``3`` or a range ``1-6`` of component counts."""
    low, _, high = text.partition("-")
    try:
        counts = range(int(low), int(high or low) + 1)
    except ValueError:
        counts = range(0)
    if not counts or counts.start < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 or a range like 1-6, got {text!r}")
    return counts


def _gaussian_prior(text: str) -> GaussianMixturePrior | None:
    choices = {"none": None, "default": GaussianMixturePrior()}
    if text.lower() not in choices:
        raise argparse.ArgumentTypeError(f"expected none or default, got {text!r}")
    return choices[text.lower()]


def _add_sampling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--draws", type=_steps, default=1000, help="posterior draws per chain (default 1000)")
    parser.add_argument("--tune", type=_steps, default=1000, help="tuning steps per chain (default 1000)")
    parser.add_argument("--chains", type=_steps, default=4, help="chains (default 4)")
    _add_sampler_option(parser)
    parser.add_argument("--output", metavar="FILE.nc", help="save the DataTree as netCDF")
    parser.add_argument("--plots", metavar="DIR", help="save the pictures as PNG files into this existing directory")


def _add_sampler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sampler",
        choices=NUTS_SAMPLERS,
        help=f"NUTS implementation; nutpie and blackjax are optional packages (default {DEFAULT_NUTS_SAMPLER}, "
        "or pymc where the latent assignments are sampled)",
    )


def _progress_to_stderr() -> redirect_stdout:
    """While sampling, what the samplers print goes to stderr, so that stdout holds the results alone.

    PyMC's own sampler draws its progress table on stdout (numpyro's goes to
    stderr already); redirected, ``em-bayes compare ... > table.txt`` saves
    the table without it.
    """
    return redirect_stdout(sys.stderr)


def _nuts_options(args) -> dict:
    """The NUTS settings the sampling commands pass on: draws, tune, chains, random_seed and nuts_sampler."""
    return dict(draws=args.draws, tune=args.tune, chains=args.chains, random_seed=args.seed, nuts_sampler=args.sampler)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-init", type=_positive, default=10, help="EM starts; the best is kept (default 10)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed, a whole number >= 0 (default 0)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")


def _gaussian_parser(subparsers, name: str, help_text: str, *, mode: str) -> argparse.ArgumentParser:
    """The options of ``fit gmm``, ``compare gmm`` or ``choose gmm`` (``mode``), each one the command reads."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "--data",
        metavar="FILE.csv",
        help="CSV of numeric columns, one row per observation (default: embedded 1-D data"
        + ("" if mode == "choose" else "; with --missing em, embedded class marks with gaps") + ")",
    )
    parser.add_argument("--columns", type=lambda text: text.split(","), help="comma-separated columns to use")
    if mode == "choose":
        # K comes from --max-components, and LOO needs complete data.
        parser.set_defaults(components=None, missing="error")
    else:
        parser.add_argument(
            "--components",
            type=_components if mode == "fit" else _positive,
            help="number of components K (default 3; 1 for the embedded class marks)"
            + ("; a range like 1-6 fits each and compares BIC" if mode == "fit" else ""),
        )
    parser.add_argument("--covariance", choices=COVARIANCE_TYPES, default="full", help="covariance structure (default full)")
    parser.add_argument(
        "--prior",
        type=_gaussian_prior,
        default=None if mode == "fit" else GaussianMixturePrior(),
        help="none (the MLE) or default (mclust-style conjugate prior, the MAP) "
        f"(default {'none' if mode == 'fit' else 'default'})",
    )
    if mode != "choose":
        parser.add_argument(
            "--missing",
            choices=("error", "em"),
            default="error",
            help="what an empty cell means: an error, or a value missing at random that EM fills in (default error)",
        )
    _add_common_options(parser)
    if mode == "compare":
        _add_sampling_options(parser)
    return parser


def _coin_parser(subparsers, name: str, help_text: str, *, mode: str) -> argparse.ArgumentParser:
    """The options of ``fit two-coins``, ``compare two-coins`` or ``choose two-coins`` (``mode``), each one the command reads."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--heads", type=_counts, help="heads per experiment, comma-separated (default: the seed data 5,9,8,4,7)")
    source.add_argument("--data", metavar="FILE.csv", help="CSV with columns heads and flips")
    parser.add_argument("--flips", type=_counts, help="flips per experiment, one number or one per experiment (default 10)")
    if mode != "choose":
        parser.add_argument("--coins", type=_positive, default=2, help="number of coins K (default 2)")
    parser.add_argument(
        "--prior",
        type=_prior,
        default=None if mode == "fit" else BetaDirichletPrior(),
        help="Beta(A, B) on each bias and Dirichlet(ALPHA) on the weights, as A,B[,ALPHA], or none for the MLE "
        f"(default {'none' if mode == 'fit' else '2,2,1'})",
    )
    parser.add_argument(
        "--estimate-weights",
        action="store_true",
        help="estimate how often each coin is used (default: coins equally likely, as in the classic example)",
    )
    _add_common_options(parser)
    if mode == "compare":
        _add_sampling_options(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="em-bayes", description="Hand-written EM beside full Bayesian inference in PyMC."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="EM alone (fast, no PyMC)").add_subparsers(dest="problem", required=True)
    compare = commands.add_parser("compare", help="EM beside PyMC's MAP and NUTS").add_subparsers(
        dest="problem", required=True
    )
    _coin_parser(fit, "two-coins", "EM for the two-coin problem (a binomial mixture)", mode="fit")
    _coin_parser(compare, "two-coins", "EM, PyMC's MAP and NUTS for the two-coin problem", mode="compare")
    _gaussian_parser(fit, "gmm", "EM for a Gaussian mixture", mode="fit")
    _gaussian_parser(compare, "gmm", "EM, PyMC's MAP and NUTS for a Gaussian mixture", mode="compare")
    grow = commands.add_parser("grow", help="EM's MAP and the posterior as the data grow").add_subparsers(
        dest="problem", required=True
    )
    for name, data in (("two-coins", "experiments of 20 flips from coins 0.3 / 0.7"), ("gmm", "draws of a 1-D mixture")):
        _grow_parser(grow, name, f"EM's MAP and standard errors against NUTS on simulated {data}")
    choose = commands.add_parser("choose", help="how many components: BIC and AIC beside PSIS-LOO").add_subparsers(
        dest="problem", required=True
    )
    for name, build in (("two-coins", _coin_parser), ("gmm", _gaussian_parser)):
        parser_k = build(choose, name, f"EM's BIC and AIC beside PSIS-LOO for K = 1 to --max-components ({name})", mode="choose")
        parser_k.add_argument("--max-components", type=_positive, default=4, help="largest K to fit (default 4)")
        parser_k.add_argument("--draws", type=_steps, default=1000, help="posterior draws per chain (default 1000)")
        parser_k.add_argument("--tune", type=_steps, default=1000, help="tuning steps per chain (default 1000)")
        parser_k.add_argument("--chains", type=_steps, default=4, help="chains (default 4)")
        _add_sampler_option(parser_k)
    coverage = commands.add_parser(
        "coverage", help="how often EM's Wald intervals and the posterior's HDIs cover the truth"
    ).add_subparsers(dest="problem", required=True)
    for name, data in (("two-coins", "experiments of 20 flips from coins 0.3 / 0.7"), ("gmm", "draws of a 1-D mixture")):
        _coverage_parser(coverage, name, f"Coverage of EM's Wald intervals and the posterior's HDIs on simulated {data}")
    return parser


def _grow_parser(subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--n", type=_sizes, default=[20, 80, 320], help="data sizes, comma-separated (default 20,80,320)")
    parser.add_argument("--draws", type=_steps, default=500, help="posterior draws per chain (default 500)")
    parser.add_argument("--tune", type=_steps, default=500, help="tuning steps per chain (default 500)")
    parser.add_argument("--chains", type=_steps, default=2, help="chains (default 2)")
    _add_sampler_option(parser)
    parser.add_argument("--n-init", type=_positive, default=5, help="EM starts; the best is kept (default 5)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed, a whole number >= 0 (default 0)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    return parser


def _coverage_parser(subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--replicates", type=_positive, default=20, help="simulated data sets (default 20)")
    parser.add_argument("--n", type=_positive, default=40, help="experiments or observations per data set (default 40)")
    # Four chains of 1000: with two of 500, r_hat's own noise left 2 to 8 of 20 healthy data sets out.
    parser.add_argument("--draws", type=_steps, default=1000, help="posterior draws per chain (default 1000)")
    parser.add_argument("--tune", type=_steps, default=1000, help="tuning steps per chain (default 1000)")
    parser.add_argument("--chains", type=_steps, default=4, help="chains (default 4)")
    parser.add_argument("--n-init", type=_positive, default=5, help="EM starts per data set; the best is kept (default 5)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed, a whole number >= 0 (default 0)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--plots", metavar="DIR", help="save the picture as coverage.png into this existing directory")
    return parser


def _coin_data(args) -> tuple[np.ndarray, np.ndarray]:
    if args.data is not None:
        if args.flips is not None:
            raise ValueError("--flips: not allowed with --data, whose file has a flips column")
        return read_coin_csv(args.data)
    if args.heads is None:
        return SEED_COINS.heads, SEED_COINS.flips if args.flips is None else _one_or_many(args.flips)
    return args.heads, 10 if args.flips is None else _one_or_many(args.flips)


def _one_or_many(flips: np.ndarray) -> np.ndarray | float:
    return flips[0] if flips.size == 1 else flips


def _finite_or_none(value):
    """``value`` with every NaN or infinite float, in nested dicts and lists, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def _print_json(value) -> None:
    """Print ``value`` as strict JSON: a number that is not finite is null."""
    print(json.dumps(_finite_or_none(value), indent=2, allow_nan=False))


def _describe(fit: EMResult) -> dict:
    return {
        "params": {name: value.tolist() for name, value in fit.params.items()},
        fit.objective_name: fit.objective,
        "n_iter": fit.n_iter,
        "converged": fit.converged,
    }


def _fit_two_coins(args) -> None:
    heads, flips = _coin_data(args)
    fit = fit_binomial_mixture(
        heads,
        flips,
        args.coins,
        prior=args.prior,
        fix_weights=not args.estimate_weights,
        n_init=args.n_init,
        random_state=args.seed,
    )
    if args.json:
        _print_json(_describe(fit))
        return
    label = "MLE" if args.prior is None else "MAP"
    print(f"EM {label} for {len(fit.responsibilities)} experiments, {args.coins} coins")
    print(pd.DataFrame({name: value for name, value in fit.params.items()}).rename_axis("coin").to_string())
    status = "converged" if fit.converged else "did NOT converge"
    print(f"{fit.objective_name} = {fit.objective:.6f} after {fit.n_iter} iterations ({status})")
    _print_optima(fit)


def _report(comparison, args, output, plots, sections) -> None:
    """Save and print a comparison as the options ask.

    ``sections`` lists (title, table, keyword arguments of ``DataFrame.to_string``)
    to print; the EM summary and the warnings follow them.
    """
    if output is not None:
        comparison.to_netcdf(output)
    saved = []
    if plots is not None:
        from .plots import save_plots

        saved = save_plots(comparison, plots)
    if args.json:
        _print_json(comparison.to_json_dict())
        return
    verdict = getattr(comparison, "verdict", None)
    blocks = [] if verdict is None else ["\n".join(verdict.lines())]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.6g}".format):
        blocks += [f"{title}\n{table.to_string(**options)}" for title, table, options in sections]
    print("\n\n".join(blocks))
    for name, fit in (("MLE", comparison.em_mle), ("MAP", comparison.em_map)):
        status = "converged" if fit.converged else "did NOT converge"
        print(f"EM {name}: {fit.objective_name} = {fit.objective:.6f} after {fit.n_iter} iterations ({status})")
    if verdict is None:
        _warn_about_chains(comparison)
    if output is not None:
        print(f"Saved the DataTree to {output}")
    for path in saved:
        print(f"Saved {path}")


def _warn_about_chains(comparison) -> None:
    """Where no verdict judges the posterior: EM's distinct optima, divergences and r_hat, as warnings."""
    optima = distinct_optima(comparison.em_map)
    if len(optima) > 1:
        print(f"EM's MAP starts reached {len(optima)} distinct optima; the chains' posterior means lie nearest to:")
        print(chain_optima(comparison.tree["posterior"].dataset, optima).to_string())
    if comparison.divergences:
        print(f"Warning: {comparison.divergences} divergent transitions; the posterior summary may be biased "
              "(raise --tune, or check the prior).")
    if comparison.tree["posterior"].sizes["chain"] < 2:
        print("Note: r_hat needs at least two chains and was not checked (run --chains 2 or more).")
    elif not comparison.table["r_hat_ok"].all():
        print("Warning: some chains have not mixed (r_hat > 1.01); run more draws or tune steps.")


def _report_assignments(comparison, args, output, plots) -> None:
    """Report a comparison of parameters and assignments."""
    sections = [
        ("Parameters: EM (MLE, MAP), PyMC's MAP and the posterior (94% HDI)", comparison.table, {}),
        (
            "Assignments: EM's responsibilities at the MAP beside the posterior probability",
            comparison.assignments,
            {"max_rows": 20},
        ),
    ]
    _report(comparison, args, output, plots, sections)


def _compare_two_coins(args) -> None:
    heads, flips = _coin_data(args)
    output = None if args.output is None else check_output_path(args.output, inputs=(args.data,) if args.data else ())
    plots = None if args.plots is None else check_output_directory(args.plots, "--plots")
    if args.prior is None:
        raise ValueError("--prior: the comparison needs a proper prior for PyMC (A,B[,ALPHA]), not none")
    from .compare import compare_two_coins

    with _progress_to_stderr():
        comparison = compare_two_coins(
            heads,
            flips,
            n_coins=args.coins,
            prior=args.prior,
            fix_weights=not args.estimate_weights,
            n_init=args.n_init,
            progressbar=not args.json,
            **_nuts_options(args),
        )
    _report_assignments(comparison, args, output, plots)


def _gaussian_data(args) -> tuple[np.ndarray, list[str], int | range]:
    """The data, their column names, and the component count(s) asked for or the data's default."""
    if args.data is not None:
        x, columns = read_numeric_csv(args.data, args.columns, missing=args.missing)
        constant = [name for name, values in zip(columns, x.T) if np.nanmin(values) == np.nanmax(values)]
        if len(columns) > 1 and constant:
            raise ValueError(
                f"--data: column {constant[0]!r} is constant, so it says nothing about the components; "
                "leave it out with --columns"
            )
        default = 3
    elif args.columns is not None:
        raise ValueError("--columns: only with --data")
    elif args.missing == "em":
        marks = class_marks()
        x, columns, default = marks.x, list(marks.columns), 1
    else:
        x, columns, default = default_gaussian_data().x, ["x"], 3
    if args.components is not None:
        return x, columns, args.components
    return x, columns, default if args.command == "compare" else range(default, default + 1)


def _gaussian_fit(x: np.ndarray, n_components: int, args) -> EMResult:
    return fit_gaussian_mixture(
        x,
        n_components,
        covariance_type=args.covariance,
        prior=args.prior,
        n_init=args.n_init,
        random_state=args.seed,
        missing=args.missing,
    )


def _log_likelihood(fit, x: np.ndarray) -> float:
    """Total log-likelihood of ``x`` (n_samples, n_features) at ``fit``; with NaN cells, that of the observed cells.

    For a MAP fit too: its objective adds the log prior density, which BIC leaves out.
    """
    if not np.isnan(x).any():
        return float(fit.score_samples(x).sum())
    x = x.reshape(x.shape[0], -1)
    rows = log_likelihoods(dict(fit.params), x=x, patterns=missingness_patterns(x), covariance_type=fit.covariance_type)
    return float(rows.sum())


def _fit_gmm(args) -> None:
    x, columns, components = _gaussian_data(args)
    # Every K is checked before the first fit, not after minutes of fitting the smaller ones.
    check_n_components(components[-1], x.shape[0], "rows", "--components")
    fits = {k: _gaussian_fit(x, k, args) for k in components}
    log_likelihoods = np.array([_log_likelihood(fit, x) for fit in fits.values()])
    table = pd.DataFrame(
        {
            "log_likelihood": log_likelihoods,
            fits[components[0]].objective_name: [fit.objective for fit in fits.values()],
            "bic": -2 * log_likelihoods + np.array([fit.n_parameters for fit in fits.values()]) * np.log(len(x)),
            "n_iter": [fit.n_iter for fit in fits.values()],
            "converged": [fit.converged for fit in fits.values()],
            "collapsed": [len(fit.collapsed_components) for fit in fits.values()],
        },
        index=pd.Index(list(fits), name="components"),
    )
    # A collapsed component's likelihood is unbounded: its BIC is no evidence for more components.
    eligible = np.isfinite(table["bic"].to_numpy()) & (table["collapsed"].to_numpy() == 0)
    best = int(table["bic"][eligible].idxmin()) if eligible.any() else components[0]
    if args.json:
        _print_json({"fits": table.reset_index().to_dict(orient="records"), "best": _describe(fits[best])})
        return
    label = "MLE" if args.prior is None else "MAP"
    print(f"EM {label} of a {args.covariance}-covariance Gaussian mixture on {x.shape[0]} rows of {columns}")
    if len(fits) > 1:
        table["best"] = np.where((table.index == best) & eligible, "<- lowest BIC", "")
        print(table.to_string())
        print()
    fit = fits[best]
    print(f"{best} components:")
    for name, value in fit.params.items():
        print(f"{name} =\n{np.array2string(np.asarray(value), precision=6, suppress_small=True)}")
    status = "converged" if fit.converged else "did NOT converge"
    print(f"{fit.objective_name} = {fit.objective:.6f}, BIC = {table.loc[best, 'bic']:.6f}, {fit.n_iter} iterations ({status})")
    _print_optima(fit)


def _compare_gmm(args) -> None:
    x, columns, n_components = _gaussian_data(args)
    output = None if args.output is None else check_output_path(args.output, inputs=(args.data,) if args.data else ())
    plots = None if args.plots is None else check_output_directory(args.plots, "--plots")
    if args.prior is None:
        raise ValueError("--prior: the comparison needs a proper prior for PyMC (default), not none")
    options = dict(
        covariance_type=args.covariance,
        prior=args.prior,
        n_init=args.n_init,
        progressbar=not args.json,
        **_nuts_options(args),
    )
    if args.missing == "em":
        from .imputation import compare_imputation

        with _progress_to_stderr():
            comparison = compare_imputation(x, n_components, columns=columns, **options)
        _report_imputation(comparison, args, output)
        return
    from .compare import compare_gaussian_mixture

    with _progress_to_stderr():
        comparison = compare_gaussian_mixture(x, n_components, **options)
    _report_assignments(comparison, args, output, plots)


def _report_imputation(comparison, args, output) -> None:
    """Report a comparison of parameters and imputed cells."""
    sections = [
        ("Parameters: EM (MLE, MAP) and the posterior (94% HDI)", comparison.table, {}),
        (
            "Missing cells: EM's conditional mean and sd at the MAP beside PyMC's imputed posterior",
            comparison.cells,
            {"index": False},
        ),
    ]
    _report(comparison, args, output, None, sections)


def _grow(args) -> None:
    from .growth import convergence_with_data

    with _progress_to_stderr():
        table = convergence_with_data(
            args.n,
            problem=args.problem,
            n_init=args.n_init,
            progressbar=not args.json,
            **_nuts_options(args),
        )
    if args.json:
        _print_json(table.reset_index().to_dict(orient="records"))
        return
    largest = table[["em_map_error", "posterior_mean_error", "em_map_vs_mean"]].groupby("n").max()
    ratios = table["se_ratio"].groupby("n").agg(se_ratio_min="min", se_ratio_max="max")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print("EM's MAP and Louis' standard errors against the posterior, per data size")
        print(table.to_string())
        print("\nLargest over the parameters")
        print(largest.join(ratios).to_string())


def _coverage(args) -> None:
    plots = None if args.plots is None else check_output_directory(args.plots, "--plots")
    from .compare import CI_PROB
    from .coverage import coverage_study, save_coverage_plot

    with _progress_to_stderr():
        study = coverage_study(
            args.problem,
            n=args.n,
            replicates=args.replicates,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            random_seed=args.seed,
            n_init=args.n_init,
        )
    saved = None if plots is None else save_coverage_plot(study, plots)
    if args.json:
        _print_json(study.to_json_dict())
        return
    replicates = study.replicates
    seconds = replicates["sampling_seconds"]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(
            f"How often {CI_PROB:g} intervals hold the truth over {len(replicates)} simulated data sets "
            f"({args.problem}, n = {args.n}): EM's Wald interval beside the posterior's HDI"
        )
        print(study.table.to_string())
    later = f", the others {seconds.iloc[1:].mean():.3f} s on average" if len(seconds) > 1 else ""
    print(
        f"NUTS: the first data set took {seconds.iloc[0]:.2f} s (tracing and compiling){later}; "
        f"compiled {study.compilations} time(s)."
    )
    failed = int((~replicates["r_hat_ok"]).sum())
    if failed:
        print(
            f"Warning: {failed} of {len(replicates)} data sets have some r_hat > 1.01 and are left out of the HDI "
            "columns; run more draws or chains."
        )
    if replicates["divergences"].sum():
        print(f"Warning: {int(replicates['divergences'].sum())} divergent transitions over all data sets.")
    if saved is not None:
        print(f"Saved {saved}")


def _choose(args) -> None:
    from .model_choice import choose_gaussian_components, choose_n_coins

    if args.prior is None:
        raise ValueError("--prior: LOO needs a proper prior for PyMC, not none")
    sampling = dict(n_init=args.n_init, **_nuts_options(args))
    if args.problem == "two-coins":
        heads, flips = _coin_data(args)
        check_n_components(args.max_components, np.size(heads), "experiments", "--max-components")
        table = choose_n_coins(
            heads, flips, max_coins=args.max_components, prior=args.prior, fix_weights=not args.estimate_weights, **sampling
        )
    else:
        x, _, _ = _gaussian_data(args)
        check_n_components(args.max_components, x.shape[0], "rows", "--max-components")
        table = choose_gaussian_components(
            x, max_components=args.max_components, covariance_type=args.covariance, prior=args.prior, **sampling
        )
    if args.json:
        print(table.reset_index().to_json(orient="records", indent=2))
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.6g}".format):
        print(table.to_string())


def _print_optima(fit: EMResult) -> None:
    """Say how many distinct optima the restarts of ``fit`` reached, with a table when more than one."""
    optima = distinct_optima(fit)
    if len(optima) == 1:
        print(f"All {len(fit.restarts)} starts reached one optimum.")
        return
    print(f"The {len(fit.restarts)} starts reached {len(optima)} distinct optima (0 is the best):")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.6g}".format):
        print(optima.to_string())


_COMMANDS = {
    ("fit", "two-coins"): _fit_two_coins,
    ("compare", "two-coins"): _compare_two_coins,
    ("fit", "gmm"): _fit_gmm,
    ("compare", "gmm"): _compare_gmm,
    ("grow", "two-coins"): _grow,
    ("grow", "gmm"): _grow,
    ("choose", "two-coins"): _choose,
    ("choose", "gmm"): _choose,
    ("coverage", "two-coins"): _coverage,
    ("coverage", "gmm"): _coverage,
}


_BROKEN_PIPE_STATUS = 141
"""128 + SIGPIPE (13): what a shell reports for a tool that a closed pipe ended, as 130 is for Ctrl-C."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    A reader that leaves early (``em-bayes fit gmm | head -1``) ends the command
    quietly with status 141. Files are saved before anything is printed about
    them, each atomically, so a closed pipe never leaves half a file.
    """
    try:
        status = _run(argv)
        # Flush here, so that a closed pipe is met inside this try and not at interpreter exit.
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return _BROKEN_PIPE_STATUS
    return status


def _discard_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's last flush has nowhere to fail.

    The recipe of Python's documentation (signal module, "Note on SIGPIPE"); restoring
    SIGPIPE's default action instead would kill the process halfway through a file.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on standard error, as errors are printed, without Python's source line."""
    print(f"em-bayes: warning: {' '.join(str(message).split())}", file=sys.stderr)


def _run(argv: list[str] | None) -> int:
    """Parse ``argv``, run the command it names and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            _COMMANDS[args.command, args.problem](args)
    except ValueError as error:
        print(f"em-bayes: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("em-bayes: interrupted; no output was written", file=sys.stderr)
        return 130
    except _Terminated:
        print("em-bayes: terminated; no output was written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        raise  # main's to handle: the reader left, nothing to report
    except OSError as error:
        # Not the input's fault (a full disk, a file system gone read-only): one line, status 1.
        where = f"{error.filename}: " if error.filename else ""
        print(f"em-bayes: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


class _Terminated(Exception):
    """SIGTERM, raised where the process is, so that files being written are cleaned up on the way out."""


def _terminate(signum, frame):
    raise _Terminated


if __name__ == "__main__":
    sys.exit(main())
