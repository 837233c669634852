"""NUTS wall time and ESS per second by sampler, on the default Gaussian data and a 2-D one.

Run: ``python benchmarks/samplers.py [--draws 1000] [--chains 4] [--data both|default|2d]``. For each data
set every sampler samples the same marginalized K=3 full-covariance model from
EM's MAP, once to warm its compile cache (a short run, not timed) and then
``--repeats`` times timed; the best wall time is reported with the smallest
bulk ESS over all scalar parameters of that run. Prints a Markdown table.
PyMC and nutpie run on the cores given; numpyro takes no ``cores``: PyMC's JAX
path gives every chain its own XLA device, so its chains share all the
machine's cores, and its row says 2, the cores of the machine measured.
"""

import argparse
import importlib.util
import time

import arviz as az
import numpy as np
import pymc as pm

from inference.em import GaussianMixturePrior, fit_gaussian_mixture
from models.datasets import default_gaussian_data, simulate_gaussian_mixture
from models.gaussian_mixture import gaussian_mixture_model

N_COMPONENTS = 3


def two_dimensional_data() -> np.ndarray:
    """300 rows of a 2-D, 3-component mixture with correlated, unequal covariances, shape (300, 2)."""
    return simulate_gaussian_mixture(
        300,
        weights=[0.3, 0.45, 0.25],
        means=[[-2.5, 0.0], [0.5, 1.5], [4.0, -1.0]],
        covariances=[[[0.5, 0.2], [0.2, 0.4]], [[0.8, -0.3], [-0.3, 0.6]], [[1.0, 0.0], [0.0, 0.3]]],
        random_state=2026,
    ).x


def _model_and_start(x):
    prior = GaussianMixturePrior()
    em_map = fit_gaussian_mixture(x, N_COMPONENTS, prior=prior, reg_covar=0.0, n_init=10, random_state=0)
    model = gaussian_mixture_model(x, N_COMPONENTS, prior=prior.resolve(x, N_COMPONENTS), marginalized=True)
    start = {rv.name: np.array(em_map.params[rv.name]) for rv in model.free_RVs}
    return model, start


def _sample(model, start, *, sampler, cores, draws, tune, chains, seed):
    began = time.perf_counter()
    tree = pm.sample(
        model=model,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        initvals=start,
        random_seed=seed,
        nuts_sampler=sampler,
        progressbar=False,
        compute_convergence_checks=False,
    )
    seconds = time.perf_counter() - began
    names = [rv.name for rv in model.free_RVs]
    summary = az.summary(tree, var_names=names, round_to="none")
    return seconds, float(summary["ess_bulk"].min()), float(summary["r_hat"].max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", choices=["both", "default", "2d"], default="both", help="which data sets to sample")
    args = parser.parse_args(argv)
    datasets = {"default": ("default, 1-D", default_gaussian_data().x), "2d": ("2-D", two_dimensional_data())}
    chosen = datasets.values() if args.data == "both" else [datasets[args.data]]
    configurations = [("pymc", 1), ("pymc", 2), ("nutpie", 1), ("nutpie", 2), ("numpyro", 2)]
    print("| data | sampler | cores | wall s (best) | min bulk ESS | ESS/s | max r_hat |")
    print("|---|---|---|---|---|---|---|")
    for label, x in chosen:
        model, start = _model_and_start(x)
        for sampler, cores in configurations:
            if sampler != "pymc" and importlib.util.find_spec(sampler) is None:
                print(f"| {label} | {sampler} | {cores} | not installed | | | |")
                continue
            _sample(model, start, sampler=sampler, cores=cores, draws=50, tune=50, chains=args.chains, seed=1)
            runs = [
                _sample(model, start, sampler=sampler, cores=cores, draws=args.draws, tune=args.tune,
                        chains=args.chains, seed=repeat)
                for repeat in range(args.repeats)
            ]
            seconds, ess, r_hat = min(runs)
            print(
                f"| {label} | {sampler} | {cores} | {seconds:.1f} | {ess:.0f} | {ess / seconds:.0f} | {r_hat:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
