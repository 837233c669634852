"""Our EM against scikit-learn on the same work, measured against the machine's floor.

Run: ``python benchmarks/run.py [--quick] [--repeats 3] [--no-dask]``. Prints Markdown
(the machine, its measured bounds, one table per experiment); ``benchmarks/README.md``
explains every column. Do not set OMP_NUM_THREADS: the script sets its BLAS
threads itself (threadpoolctl), one thread and the library default in turn.
"""

import argparse
from contextlib import nullcontext
from functools import partial
import os
import platform
import time
import warnings

import numba
import numpy as np
import scipy
import sklearn
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

from inference.em import binomial, fit_binomial_mixture, fit_gaussian_mixture, gaussian
from inference.em.loop import run_em

GAUSSIAN_CONFIGS = [  # (n_samples, n_features, n_components)
    (100_000, 2, 3),
    (1_000_000, 2, 3),
    (1_000_000, 10, 8),
    (100_000, 50, 5),
]
QUICK_N = 2_000
BINOMIAL_EXPERIMENTS = 1_000_000
DASK_N = 10_000_000
DASK_CHUNK_ROWS = 1_000_000
# Every Gaussian timing takes runs over at least this long (not with --quick).
MIN_SECONDS = 5.0


def best_time(function, repeats: int) -> float:
    """The fastest of ``repeats`` wall times of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


###############################################################################
# The machine


def describe_machine() -> list[str]:
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    blas = [
        f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads, {info.get('architecture')})"
        for info in threadpool_info()
    ]
    return [
        f"- CPU: {model}, {os.cpu_count()} logical cores (shared with other jobs: best of several runs)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"numba {numba.__version__}, scikit-learn {sklearn.__version__}",
        f"- BLAS (threadpoolctl): {'; '.join(blas)}",
    ]


def measure_bounds(repeats: int, quick: bool) -> dict[str, float]:
    """Memory bandwidth (bytes/s, a large array's sum), dgemm rate (flop/s, one thread), exp (s per value, in cache).

    The bounds are the machine's best: the sums and the exponentials take a few
    milliseconds a run, so they are run many times, over long enough that a slow
    spell of a shared machine is unlikely to cover every run.
    """
    many = 50
    size = 2**20 if quick else 2**25
    array = np.random.default_rng(0).random(size)
    bandwidth = array.nbytes / best_time(array.sum, many)
    target = np.empty_like(array)
    copy_bandwidth = 2 * array.nbytes / best_time(lambda: np.copyto(target, array), many)
    side = 500 if quick else 2000
    matrix = np.random.default_rng(1).random((side, side))
    with threadpool_limits(limits=1, user_api="blas"):
        flops = 2 * side**3 / best_time(lambda: matrix @ matrix, repeats)
    # The E-step exponentiates blocks of about 2**15 values that sit in cache; a
    # larger array would add memory traffic, which the floor counts once, for x.
    values = np.random.default_rng(2).random(2**15) - 20
    out = np.empty_like(values)
    calls = 64

    def exponentiate():
        for _ in range(calls):
            np.exp(values, out=out)

    exp_seconds = best_time(exponentiate, many) / (calls * values.size)
    return {"bandwidth": bandwidth, "copy_bandwidth": copy_bandwidth, "flops": flops, "exp": exp_seconds}


def floor_seconds(n: int, d: int, k: int, covariance_type: str, bounds: dict[str, float]) -> float:
    """A lower bound on one EM iteration, in seconds, as a sum of three costs on one core.

    - exponentials: n K, one per responsibility;
    - arithmetic at the dgemm rate: each row's quadratic form under each component,
      and its weighted second moments, need d (d + 1) / 2 multiply-adds each for a
      full covariance, 2 d for a diagonal one: 2 n K d (d + 1) and 8 n K d flops;
    - memory at the sum's bandwidth: x read once, 8 n d bytes (the responsibilities
      need not be stored).
    """
    flops = 2 * n * k * d * (d + 1) if covariance_type == "full" else 8 * n * k * d
    return n * k * bounds["exp"] + flops / bounds["flops"] + 8 * n * d / bounds["bandwidth"]


###############################################################################
# Gaussian mixtures: ours and scikit-learn's, same data, same start, same iterations


def blobs(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """Rows from K unit-variance Gaussians with centres drawn at scale 3."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(k, d))
    return centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))


def spread_start(x: np.ndarray, k: int, covariance_type: str, seed: int = 1) -> dict[str, np.ndarray]:
    """Equal weights, K random rows as means, the data's (co)variance in every component."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    covariance = np.cov(x[: min(len(x), 100_000)], rowvar=False).reshape(d, d)
    covariances = np.repeat(covariance[None], k, axis=0)
    if covariance_type == "diag":
        covariances = np.repeat(np.diag(covariance)[None], k, axis=0)
    return {"weights": np.full(k, 1.0 / k), "means": x[rng.choice(len(x), size=k, replace=False)], "covariances": covariances}


def ours(x, start, covariance_type, n_iter):
    """``n_iter`` EM iterations (n_iter + 1 E-steps, n_iter M-steps), whatever the objective does."""
    return run_em(
        partial(gaussian.e_step, x=x, covariance_type=covariance_type, prior=None),
        partial(gaussian.m_step, covariance_type=covariance_type, prior=None, reg_covar=1e-6),
        start,
        tol=-1.0,
        max_iter=n_iter,
    )


def sklearns(x, start, covariance_type, n_iter):
    """scikit-learn's ``n_iter`` iterations from ``start`` (n_iter + 1 E-steps, n_iter M-steps)."""
    precisions = (
        np.linalg.inv(start["covariances"]) if covariance_type == "full" else 1.0 / start["covariances"]
    )
    mixture = GaussianMixture(
        n_components=start["weights"].size,
        covariance_type=covariance_type,
        tol=0.0,
        reg_covar=1e-6,
        max_iter=n_iter,
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=precisions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        return mixture.fit(x)


def seconds_per_iteration(fits: dict, n_iter: int, repeats: int, min_seconds: float = 0.0) -> dict:
    """What one more iteration of each ``fits[side](iterations)`` costs: ``(T(n_iter) - T(1)) / (n_iter - 1)``.

    Each T is the best of at least ``repeats`` wall times, and of more while the
    runs so far took less than ``min_seconds`` in all: fast fits are sampled over
    as long a stretch as slow ones. The fixed costs of a fit (input checks, the
    E-step after the last M-step) are in both T and cancel. The sides take
    turns, one run each per round, so that a slow spell of a shared machine
    falls on all of them alike. Returns seconds by side.
    """
    best = {(side, m): np.inf for side in fits for m in (n_iter, 1)}
    rounds, began = 0, time.perf_counter()
    while rounds < repeats or time.perf_counter() - began < min_seconds:
        for (side, m), seconds in best.items():
            best[side, m] = min(seconds, best_time(partial(fits[side], m), 1))
        rounds += 1
    return {side: (best[side, n_iter] - best[side, 1]) / (n_iter - 1) for side in fits}


def gaussian_table(bounds, *, repeats: int, quick: bool) -> list[str]:
    n_iter = 4
    min_seconds = 0.0 if quick else MIN_SECONDS
    lines = [
        f"Seconds per iteration: (T({n_iter} iterations) - T(1 iteration)) / {n_iter - 1}, each T the best of "
        f"at least {repeats} runs spanning at least {min_seconds:g} s, ours and scikit-learn "
        "taking turns; both from the same start. `1t`: one BLAS thread; "
        "`dt`: the default threads. Floor: see README.",
        "",
        "| n | d | K | cov | ours 1t | ours dt | sklearn 1t | sklearn dt | sklearn 1t / ours 1t | "
        "sklearn dt / ours 1t | floor | ours 1t / floor | sklearn 1t / floor | mean loglik diff | params max rel diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    configs = sorted({(QUICK_N, d, k) for _, d, k in GAUSSIAN_CONFIGS}) if quick else GAUSSIAN_CONFIGS
    for n, d, k in configs:
        # Column-major, as fit_gaussian_mixture holds its copy of x; scikit-learn gets the same array.
        x = np.asfortranarray(blobs(n, d, k))
        for covariance_type in ("full", "diag"):
            start = spread_start(x, k, covariance_type)
            fits = {
                "ours": partial(ours, x, start, covariance_type),
                "sklearn": partial(sklearns, x, start, covariance_type),
            }
            times = {}
            for threads, limit in (("1t", 1), ("dt", None)):
                context = threadpool_limits(limits=1, user_api="blas") if limit else nullcontext()
                with context:
                    for side, seconds in seconds_per_iteration(fits, n_iter, repeats, min_seconds).items():
                        times[side, threads] = seconds
            run = ours(x, start, covariance_type, n_iter)
            mixture = sklearns(x, start, covariance_type, n_iter)
            # scikit-learn's lower bound is the mean log-likelihood at the E-step of its last
            # iteration, i.e. at the parameters after n_iter - 1 M-steps.
            loglik_diff = abs(run.objective_trace[n_iter - 1] / n - mixture.lower_bound_)
            fitted = {"weights": mixture.weights_, "means": mixture.means_, "covariances": mixture.covariances_}
            params_diff = max(
                np.abs(run.params[name] - fitted[name]).max() / np.abs(fitted[name]).max() for name in fitted
            )
            floor = floor_seconds(n, d, k, covariance_type, bounds)
            lines.append(
                f"| {n:.0e} | {d} | {k} | {covariance_type} | {times['ours', '1t']:.4f} | {times['ours', 'dt']:.4f} | "
                f"{times['sklearn', '1t']:.4f} | {times['sklearn', 'dt']:.4f} | "
                f"{times['sklearn', '1t'] / times['ours', '1t']:.1f} | {times['sklearn', 'dt'] / times['ours', '1t']:.1f} | "
                f"{floor:.4f} | {times['ours', '1t'] / floor:.1f} | {times['sklearn', '1t'] / floor:.1f} | "
                f"{loglik_diff:.1e} | {params_diff:.1e} |"
            )
            print(lines[-1], flush=True)
    return lines


###############################################################################
# The binomial mixture: distinct (heads, flips) pairs pooled with their counts


def binomial_table(*, repeats: int, quick: bool) -> list[str]:
    n = QUICK_N if quick else BINOMIAL_EXPERIMENTS
    rng = np.random.default_rng(3)
    heads = np.where(rng.random(n) < 0.4, rng.binomial(10, 0.3, n), rng.binomial(10, 0.7, n))
    flips = np.full(n, 10)
    n_iter = 20
    start = {"theta": np.array([0.4, 0.6]), "weights": np.array([0.5, 0.5])}

    def iterate(heads, flips, counts):
        data = {"heads": heads, "flips": flips, "counts": counts}
        return run_em(
            partial(binomial.e_step, **data, prior=None, fix_weights=False),
            partial(binomial.m_step, **data, prior=None, fixed_weights=None),
            start,
            tol=-1.0,
            max_iter=n_iter,
        )

    pairs, counts = np.unique(np.stack([heads, flips], axis=1), axis=0, return_counts=True)
    with threadpool_limits(limits=1, user_api="blas"):
        pooling = best_time(lambda: np.unique(np.stack([heads, flips], axis=1), axis=0, return_counts=True), repeats)
        pooled = best_time(lambda: iterate(pairs[:, 0], pairs[:, 1], counts), repeats) / n_iter
        unpooled = best_time(lambda: iterate(heads, flips, np.ones(n)), repeats) / n_iter
    difference = abs(iterate(pairs[:, 0], pairs[:, 1], counts).objective - iterate(heads, flips, np.ones(n)).objective)
    return [
        f"Binomial mixture, {n:.0e} experiments of 10 flips, K=2, one BLAS thread: the same E- and M-step "
        f"on the {len(pairs)} distinct (heads, flips) pairs with counts, and on every row.",
        "",
        "| pooling once (s) | pooled s/iter | every row s/iter | ratio | objective diff |",
        "|---|---|---|---|---|",
        f"| {pooling:.4f} | {pooled:.2e} | {unpooled:.2e} | {unpooled / pooled:.0f} | {difference:.1e} |",
    ]


###############################################################################
# SQUAREM on mixtures where plain EM crawls


def squarem_table(*, quick: bool) -> list[str]:
    tol = 1e-4 if quick else 1e-8
    rng = np.random.default_rng(4)
    n = QUICK_N if quick else 100_000
    x = np.concatenate([rng.normal(0.0, 1.0, (n // 2, 2)), rng.normal(0.7, 1.2, (n - n // 2, 2))])
    gaussian_start = {
        "weights": np.array([0.5, 0.5]),
        "means": np.array([[-1.0, 0.0], [1.0, 0.0]]),
        "covariances": np.repeat(np.eye(2)[None], 2, axis=0),
    }
    m = QUICK_N if quick else BINOMIAL_EXPERIMENTS
    heads = np.where(rng.random(m) < 0.5, rng.binomial(10, 0.5, m), rng.binomial(10, 0.56, m))
    problems = {
        f"Gaussian, n={n:.0e}, d=2, K=2 full, overlapping": lambda accelerate: fit_gaussian_mixture(
            x, 2, init=gaussian_start, tol=tol, max_iter=100_000, accelerate=accelerate
        ),
        f"binomial, {m:.0e} experiments, theta 0.5 / 0.56": lambda accelerate: fit_binomial_mixture(
            heads, 10, 2, init=[0.3, 0.7], tol=tol, max_iter=100_000, accelerate=accelerate
        ),
    }
    lines = [
        f"Iterations and seconds to tol={tol:g} (objective gain of one EM step), one BLAS thread. "
        "Accelerated iterations count every recorded EM step (SQUAREM's stabilising steps included); "
        "each extrapolation costs one more E-step, not counted.",
        "",
        "| problem | plain iters | plain s | SQUAREM iters | SQUAREM s | speed-up (s) | objective diff | "
        "max param diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with threadpool_limits(limits=1, user_api="blas"):
        for name, fit in problems.items():
            began = time.perf_counter()
            plain = fit(False)
            plain_seconds = time.perf_counter() - began
            began = time.perf_counter()
            fast = fit(True)
            fast_seconds = time.perf_counter() - began
            params_diff = max(np.abs(np.asarray(plain.params[k]) - fast.params[k]).max() for k in plain.params)
            lines.append(
                f"| {name} | {plain.n_iter}{'' if plain.converged else ' (not converged)'} | {plain_seconds:.2f} | "
                f"{fast.n_iter} | {fast_seconds:.2f} | {plain_seconds / fast_seconds:.1f} | "
                f"{fast.objective_trace[-1] - plain.objective_trace[-1]:.1e} | {params_diff:.1e} |"
            )
            print(lines[-1], flush=True)
    return lines


###############################################################################
# Dask: n = 1e7 out of the driver's memory, against in-memory NumPy


def _dask_chunk(block: np.ndarray, centres: np.ndarray, block_info=None) -> np.ndarray:
    """One chunk of mixture rows, column-major, seeded by its position so that every run draws the same data."""
    rng = np.random.default_rng(block_info[None]["chunk-location"][0])
    n, d = block.shape
    return np.asfortranarray(centres[rng.integers(len(centres), size=n)] + rng.normal(size=(n, d)))


def dask_table(*, repeats: int, quick: bool) -> list[str]:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from inference.dask_em import fit_gaussian_mixture_dask

    n, chunk = (QUICK_N, QUICK_N // 4) if quick else (DASK_N, DASK_CHUNK_ROWS)
    d, k, n_iter = 2, 3, 3
    centres = np.random.default_rng(0).normal(scale=3.0, size=(k, d))
    lazy = da.zeros((n, d), chunks=(chunk, d)).map_blocks(_dask_chunk, centres=centres, dtype=float)
    x = np.asfortranarray(lazy.compute())
    start = spread_start(x, k, "full")

    def dask_iterations(data):
        return fit_gaussian_mixture_dask(data, start, tol=0.0, max_iter=n_iter)

    with threadpool_limits(limits=1, user_api="blas"):
        in_memory = best_time(lambda: ours(x, start, "full", n_iter), repeats) / n_iter
    reference = ours(x, start, "full", n_iter)
    reference = reference.permuted(
        np.argsort(reference.params["means"][:, 0]), {"weights": 0, "means": 0, "covariances": 0}
    )
    lines = [
        f"Gaussian EM at n={n:.0e}, d={d}, K={k}, full, chunks of {chunk:.0e} rows drawn on the workers and "
        "persisted there. In-memory: the same steps in one process, one BLAS thread. Seconds per iteration, best of "
        f"{repeats} runs of {n_iter} iterations.",
        "",
        "| where | MALLOC setting on workers | s/iter | vs in-memory | max param diff vs in-memory |",
        "|---|---|---|---|---|",
        f"| in memory | (process default) | {in_memory:.3f} | 1.0 | 0 |",
    ]
    settings = {"threads (no cluster)": None} if quick else {
        "MALLOC_TRIM_THRESHOLD_=65536 (distributed's default)": {},
        "MALLOC_TRIM_THRESHOLD_ unset": {"MALLOC_TRIM_THRESHOLD_": None},
        "MALLOC_TRIM_THRESHOLD_=65536, MALLOC_MMAP_THRESHOLD_=2**26": {"MALLOC_MMAP_THRESHOLD_": 2**26},
    }
    for label, environ in settings.items():
        if environ is None:
            with dask.config.set(scheduler="threads"):
                data = lazy.persist()
                seconds = best_time(lambda: dask_iterations(data), repeats) / n_iter
                run = dask_iterations(data)
            where = "dask, threads"
        else:
            config = {f"distributed.nanny.pre-spawn-environ.{key}": value for key, value in environ.items()}
            with dask.config.set(config), LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster, Client(cluster):
                # The chunks are drawn on the workers and stay in their memory.
                data = lazy.persist()
                seconds = best_time(lambda: dask_iterations(data), repeats) / n_iter
                run = dask_iterations(data)
            where = "dask.distributed, 2 workers x 1 thread"
        diff = max(np.abs(run.params[name] - reference.params[name]).max() for name in start)
        lines.append(f"| {where} | {label} | {seconds:.3f} | {seconds / in_memory:.2f} | {diff:.1e} |")
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"n={QUICK_N} everywhere: a smoke test in seconds")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing; the best is reported")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask experiment")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats

    sections = [["## Machine", "", *describe_machine()]]
    bounds = measure_bounds(repeats, args.quick)
    sections.append([
        "## Measured bounds (this run)",
        "",
        f"- memory bandwidth (sum of a {'8 MiB' if args.quick else '256 MiB'} array): "
        f"{bounds['bandwidth'] / 1e9:.1f} GB/s (copy: {bounds['copy_bandwidth'] / 1e9:.1f} GB/s read + write)",
        f"- dgemm, one thread: {bounds['flops'] / 1e9:.1f} GFLOP/s",
        f"- exp: {bounds['exp'] * 1e9:.2f} ns per value (2**15 values, in cache)",
    ])
    for title, table in (
        ("Gaussian mixtures: ours vs scikit-learn", lambda: gaussian_table(bounds, repeats=repeats, quick=args.quick)),
        ("Binomial mixture", lambda: binomial_table(repeats=repeats, quick=args.quick)),
        ("SQUAREM acceleration", lambda: squarem_table(quick=args.quick)),
    ):
        print(f"## {title}", flush=True)
        sections.append([f"## {title}", "", *table()])
    if not args.no_dask:
        sections.append(["## Dask", "", *dask_table(repeats=repeats, quick=args.quick)])
    print()
    print("\n\n".join("\n".join(section) for section in sections))


if __name__ == "__main__":
    main()
