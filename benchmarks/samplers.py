"""NUTS wall time and ESS per second for the default Gaussian data, by sampler.

Run: ``python benchmarks/samplers.py [--draws 1000] [--chains 4]``. Every sampler
samples the same marginalized K=3 model from EM's MAP, once to warm its
compile cache (a short run, not timed) and then ``--repeats`` times timed;
the best wall time is reported with the smallest bulk ESS over all scalar
parameters of that run. Prints a Markdown table.
"""

import argparse
import importlib.util
import time

import arviz as az
import numpy as np
import pymc as pm

from inference.em import GaussianMixturePrior, fit_gaussian_mixture
from models.datasets import default_gaussian_data
from models.gaussian_mixture import gaussian_mixture_model

N_COMPONENTS = 3


def _model_and_start():
    x = default_gaussian_data().x
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
    args = parser.parse_args(argv)
    model, start = _model_and_start()
    configurations = [("pymc", 1), ("nutpie", 1), ("nutpie", 2), ("numpyro", 1)]
    print("| sampler | cores | wall s (best) | min bulk ESS | ESS/s | max r_hat |")
    print("|---|---|---|---|---|---|")
    for sampler, cores in configurations:
        if sampler != "pymc" and importlib.util.find_spec(sampler) is None:
            print(f"| {sampler} | {cores} | not installed | | | |")
            continue
        _sample(model, start, sampler=sampler, cores=cores, draws=50, tune=50, chains=args.chains, seed=1)
        runs = [
            _sample(model, start, sampler=sampler, cores=cores, draws=args.draws, tune=args.tune,
                    chains=args.chains, seed=repeat)
            for repeat in range(args.repeats)
        ]
        seconds, ess, r_hat = min(runs)
        print(f"| {sampler} | {cores} | {seconds:.1f} | {ess:.0f} | {ess / seconds:.0f} | {r_hat:.3f} |", flush=True)


if __name__ == "__main__":
    main()
