"""The ``em-bayes`` command: thin over :mod:`inference` and :mod:`models`.

``em-bayes fit two-coins`` runs EM alone; ``em-bayes compare two-coins`` runs
EM, PyMC's MAP and NUTS side by side. Bad input ends the command with one line
on standard error and exit status 2, never a traceback.
"""

import argparse
import json
import sys

import numpy as np
import pandas as pd

from models.datasets import SEED_COINS

from .em import BetaDirichletPrior, EMResult, fit_binomial_mixture
from .io import check_output_path, read_coin_csv

__all__ = ["main"]


def _numbers(text: str) -> np.ndarray:
    try:
        return np.array([float(item) for item in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _coin_parser(subparsers, name: str, help_text: str, *, sampling: bool) -> argparse.ArgumentParser:
    default_prior = BetaDirichletPrior() if sampling else None
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--heads", type=_numbers, help="heads per experiment, comma-separated (default: the seed data 5,9,8,4,7)")
    source.add_argument("--data", metavar="FILE.csv", help="CSV with columns heads and flips")
    parser.add_argument("--flips", type=_numbers, help="flips per experiment, one number or one per experiment (default 10)")
    parser.add_argument("--coins", type=_positive, default=2, help="number of coins K (default 2)")
    parser.add_argument(
        "--prior",
        type=_prior,
        default=default_prior,
        help="Beta(A, B) on each bias and Dirichlet(ALPHA) on the weights, as A,B[,ALPHA], or none for the MLE "
        f"(default {'2,2,1' if sampling else 'none'})",
    )
    parser.add_argument(
        "--estimate-weights",
        action="store_true",
        help="estimate how often each coin is used (default: coins equally likely, as in the classic example)",
    )
    parser.add_argument("--n-init", type=_positive, default=10, help="EM starts; the best is kept (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    if sampling:
        parser.add_argument("--draws", type=_positive, default=1000, help="posterior draws per chain (default 1000)")
        parser.add_argument("--tune", type=_positive, default=1000, help="tuning steps per chain (default 1000)")
        parser.add_argument("--chains", type=_positive, default=4, help="chains (default 4)")
        parser.add_argument("--output", metavar="FILE.nc", help="save the DataTree as netCDF")
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
    _coin_parser(fit, "two-coins", "EM for the two-coin problem (a binomial mixture)", sampling=False)
    _coin_parser(compare, "two-coins", "EM, PyMC's MAP and NUTS for the two-coin problem", sampling=True)
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
        print(json.dumps(_describe(fit), indent=2))
        return
    label = "MLE" if args.prior is None else "MAP"
    print(f"EM {label} for {len(fit.responsibilities)} experiments, {args.coins} coins")
    print(pd.DataFrame({name: value for name, value in fit.params.items()}).rename_axis("coin").to_string())
    status = "converged" if fit.converged else "did NOT converge"
    print(f"{fit.objective_name} = {fit.objective:.6f} after {fit.n_iter} iterations ({status})")


def _compare_two_coins(args) -> None:
    heads, flips = _coin_data(args)
    output = None if args.output is None else check_output_path(args.output)
    if args.prior is None:
        raise ValueError("--prior: the comparison needs a proper prior for PyMC (A,B[,ALPHA]), not none")
    from .compare import compare_two_coins

    comparison = compare_two_coins(
        heads,
        flips,
        n_coins=args.coins,
        prior=args.prior,
        fix_weights=not args.estimate_weights,
        n_init=args.n_init,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        random_seed=args.seed,
        progressbar=not args.json,
    )
    if output is not None:
        comparison.to_netcdf(output)
    if args.json:
        print(json.dumps(comparison.to_json_dict(), indent=2))
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.6g}".format):
        print("\nParameters: EM (MLE, MAP), PyMC's MAP and the posterior (94% HDI)")
        print(comparison.table.to_string())
        print("\nAssignments: EM's responsibilities at the MAP beside the posterior probability")
        print(comparison.assignments.to_string())
    for name, fit in (("MLE", comparison.em_mle), ("MAP", comparison.em_map)):
        status = "converged" if fit.converged else "did NOT converge"
        print(f"EM {name}: {fit.objective_name} = {fit.objective:.6f} after {fit.n_iter} iterations ({status})")
    if not comparison.table["r_hat_ok"].all():
        print("Warning: some chains disagree (r_hat > 1.01); run more draws or tune steps.")
    if output is not None:
        print(f"Saved the DataTree to {output}")


_COMMANDS = {("fit", "two-coins"): _fit_two_coins, ("compare", "two-coins"): _compare_two_coins}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _COMMANDS[args.command, args.problem](args)
    except ValueError as error:
        print(f"em-bayes: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("em-bayes: interrupted; no output was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
