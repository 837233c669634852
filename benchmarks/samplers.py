"""NUTS by sampler on the marginalized Gaussian mixtures: time, ESS per second counting compilation, r_hat, divergences.

Run: ``python benchmarks/samplers.py [--data default,2d-k2,2d-k3,1d-1000] [--samplers ...] [--draws 1000]``.
Every (data, sampler) pair runs in a process of its own, twice: the first
run meets cold compilation caches where a sampler keeps them on disk (JAX's,
in em-bayes' cache directory; PyTensor's numba cache for PyMC's own sampler
and nutpie), the second the warm caches a user's next run finds. Each run
samples the same model from EM's MAP, every chain unjittered, 4 chains x 1000
draws after 1000 tuning steps by default. Seconds are wall time of the
sampling call alone (compilation included, imports not), so ESS per second
counts compilation. ``min ESS`` is the smallest bulk ESS over all scalar
parameters; a run is reliable when r_hat <= 1.01, bulk ESS >= 100 per chain
and no transition diverged. Prints a Markdown table.

The samplers: numpyro with a diagonal and with a dense mass matrix, and
blackjax, through ``pymc.sampling.jax.sample_jax_nuts`` (chains in parallel,
each on its own XLA device); PyMC's own NUTS with a chain per core; nutpie
(numba backend). nutpie and blackjax are optional packages: a sampler that is
not installed gets a row saying so, and one that fails a row with its error.
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from models.datasets import default_gaussian_data, simulate_gaussian_mixture

SAMPLERS = ("numpyro", "numpyro-dense", "blackjax", "pymc", "nutpie")
ESS_PER_CHAIN = 100
R_HAT_LIMIT = 1.01


def two_clusters(n_samples: int = 300) -> np.ndarray:
    """Two clusters of unequal shape and size (short-and-wide, long), shape (n_samples, 2)."""
    return simulate_gaussian_mixture(
        n_samples,
        weights=[0.35, 0.65],
        means=[[2.0, 55.0], [4.3, 80.0]],
        covariances=[[[0.07, 0.45], [0.45, 34.0]], [[0.17, 0.9], [0.9, 36.0]]],
        random_state=1,
    ).x


def three_clusters() -> np.ndarray:
    """300 rows of a 3-component mixture with correlated, unequal covariances and weights, shape (300, 2)."""
    return simulate_gaussian_mixture(
        300,
        weights=[0.3, 0.45, 0.25],
        means=[[-2.5, 0.0], [0.5, 1.5], [4.0, -1.0]],
        covariances=[[[0.5, 0.2], [0.2, 0.4]], [[0.8, -0.3], [-0.3, 0.6]], [[1.0, 0.0], [0.0, 0.3]]],
        random_state=2026,
    ).x


def thousand_rows() -> np.ndarray:
    """1,000 rows of a 1-D two-component mixture, shape (1000, 1)."""
    return simulate_gaussian_mixture(
        1000, weights=[0.4, 0.6], means=[[-1.5], [1.5]], covariances=np.array([0.8, 1.2]).reshape(2, 1, 1), random_state=7
    ).x


DATA = {
    "default": ("default 1-D, 300 rows, K=3", default_gaussian_data().x, 3),
    "2d-k2": ("2-D, 300 rows, K=2", two_clusters(), 2),
    "2d-k3": ("2-D, 300 rows, K=3", three_clusters(), 3),
    "1d-1000": ("1-D, 1000 rows, K=2", thousand_rows(), 2),
}


def installed(sampler: str) -> bool:
    package = sampler.partition("-")[0]
    return package == "pymc" or importlib.util.find_spec(package) is not None


def run_one(data: str, sampler: str, *, draws: int, tune: int, chains: int, seed: int) -> dict:
    """Sample one data set with one sampler in this process; the figures of the table's row."""
    import pymc as pm
    from arviz_stats import summary
    from pymc.sampling.jax import sample_jax_nuts

    from inference.bayes import _jax
    from inference.em import GaussianMixturePrior, fit_gaussian_mixture
    from models.gaussian_mixture import gaussian_mixture_model

    _, x, n_components = DATA[data]
    prior = GaussianMixturePrior()
    em_map = fit_gaussian_mixture(x, n_components, prior=prior, reg_covar=0.0, n_init=10, random_state=0)
    model = gaussian_mixture_model(x, n_components, prior=prior.resolve(x, n_components), marginalized=True)
    names = [rv.name for rv in model.free_RVs]
    start = {name: np.array(em_map.params[name]) for name in names}
    options = dict(model=model, draws=draws, tune=tune, chains=chains, initvals=start, random_seed=seed, progressbar=False)
    _jax()
    began = time.perf_counter()
    if sampler in ("numpyro", "numpyro-dense", "blackjax"):
        nuts = {"dense_mass": True} if sampler == "numpyro-dense" else {}
        tree = sample_jax_nuts(
            nuts_sampler=sampler.partition("-")[0], jitter=False, nuts_kwargs=nuts, compute_convergence_checks=False, **options
        )
    elif sampler == "pymc":
        tree = pm.sample(nuts_sampler="pymc", init="adapt_diag", cores=2, compute_convergence_checks=False, **options)
    else:
        tree = pm.sample(nuts_sampler="nutpie", compute_convergence_checks=False, **options)
    seconds = time.perf_counter() - began
    table = summary(tree, var_names=names, kind="diagnostics", round_to="none")
    return {
        "seconds": seconds,
        "min_ess": float(table["ess_bulk"].min()),
        "max_r_hat": float(table["r_hat"].max()),
        "divergences": int(tree["sample_stats"]["diverging"].sum()),
    }


def measure(data: str, sampler: str, args) -> tuple[dict, dict]:
    """``run_one`` in two fresh processes sharing new, empty compilation caches: the cold run's figures and the warm one's."""
    command = [
        sys.executable, __file__, "--one", data, sampler,
        "--draws", str(args.draws), "--tune", str(args.tune), "--chains", str(args.chains),
    ]
    with tempfile.TemporaryDirectory() as caches:
        environment = {
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "EM_BAYES_CACHE": caches,
            "PYTENSOR_FLAGS": f"base_compiledir={caches}/pytensor",
        }
        runs = [subprocess.run(command, capture_output=True, text=True, env=environment) for _ in range(2)]
    failed = next((run for run in runs if run.returncode != 0), None)
    if failed is not None:
        errors = [line for line in failed.stderr.splitlines() if re.match(r"\w+(Error|Exception): ", line)]
        raise RuntimeError(errors[-1] if errors else failed.stderr.strip().splitlines()[-1])
    return tuple(json.loads(run.stdout.strip().splitlines()[-1]) for run in runs)


def row(label: str, sampler: str, cold: dict, warm: dict, chains: int) -> str:
    reliable = (
        warm["max_r_hat"] <= R_HAT_LIMIT and warm["min_ess"] >= ESS_PER_CHAIN * chains and warm["divergences"] == 0
    )
    return (
        f"| {label} | {sampler} | {cold['seconds']:.1f} | {warm['seconds']:.1f} | {warm['min_ess']:.0f} | "
        f"{warm['min_ess'] / cold['seconds']:.0f} | {warm['min_ess'] / warm['seconds']:.0f} | "
        f"{warm['max_r_hat']:.3f} | {warm['divergences']} | {'yes' if reliable else 'no'} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=",".join(DATA), help=f"comma-separated, from {list(DATA)}")
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help=f"comma-separated, from {list(SAMPLERS)}")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--one", nargs=2, metavar=("DATA", "SAMPLER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        data, sampler = args.one
        print(json.dumps(run_one(data, sampler, draws=args.draws, tune=args.tune, chains=args.chains, seed=1)))
        return
    print(f"{args.chains} chains x {args.draws} draws after {args.tune} tuning steps; seconds include compilation\n")
    print("| data | sampler | s cold | s warm | min ESS | ESS/s cold | ESS/s warm | max r_hat | divergences | reliable |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for data in args.data.split(","):
        label = DATA[data][0]
        for sampler in args.samplers.split(","):
            if not installed(sampler):
                print(f"| {label} | {sampler} | not installed | | | | | | | |", flush=True)
                continue
            try:
                cold, warm = measure(data, sampler, args)
            except RuntimeError as error:
                print(f"| {label} | {sampler} | failed: {error} | | | | | | | |", flush=True)
                continue
            print(row(label, sampler, cold, warm, args.chains), flush=True)


if __name__ == "__main__":
    main()
