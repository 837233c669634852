"""Coverage studies: checked arguments, one compiled sampler for every replicate, and plausible coverage."""

import json

from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from inference import coverage
from inference.bayes import _interpreted
from inference.cli import main
from inference.coverage import CoverageStudy, coverage_study, plot_coverage, save_coverage_plot
from inference.em import BetaDirichletPrior, GaussianMixturePrior
from inference.growth import DEFAULT_TRUTH

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

COIN_LABELS = ["theta[0]", "theta[1]", "weights[0]", "weights[1]"]

GMM_TRUTH = {"weights": [0.5, 0.5], "means": [[0.0], [1.0]], "covariances": [[[1.0]], [[1.0]]]}

# Small enough to sample in about a second once compiled; the CLI test uses the
# same shapes and NUTS settings, so it finds the compiled code in JAX's cache.
SMALL = dict(n=30, replicates=4, draws=200, tune=200, chains=2, random_seed=1)


@pytest.fixture(scope="module")
def coin_study():
    return coverage_study("two-coins", **SMALL)


# Arguments


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"problem": "three-coins"}, "problem: expected one of"),
        ({"n": 0}, "n: expected a whole number >= 1"),
        ({"n": 2.5}, "n: expected a whole number >= 1"),
        ({"n": 1}, "n: 2 components need at least 2 experiments"),
        ({"problem": "gmm", "n": 1}, "n: 2 components need at least 2 observations"),
        ({"replicates": 0}, "replicates: expected a whole number >= 1"),
        ({"draws": 0}, "draws: expected a whole number >= 1"),
        ({"tune": -1}, "tune: expected a whole number >= 1"),
        ({"chains": True}, "chains: expected a whole number >= 1"),
        ({"n_init": 0}, "n_init: expected a whole number >= 1"),
        ({"random_seed": -1}, "random_seed: expected None, a whole number >= 0"),
        ({"prior": GaussianMixturePrior()}, "prior: expected a BetaDirichletPrior or None"),
        ({"problem": "gmm", "prior": BetaDirichletPrior()}, "prior: expected a GaussianMixturePrior or None"),
        ({"truth": "coins"}, "truth: expected a dict of ['theta', 'weights']"),
        ({"truth": {"theta": [0.3, 0.7]}}, "truth: expected a dict of ['theta', 'weights']"),
        ({"truth": {"theta": [0.7, 0.3], "weights": [0.5, 0.5]}}, "truth['theta']: components must come in"),
        ({"truth": {"theta": [0.0, 0.7], "weights": [0.5, 0.5]}}, "truth['theta']: every bias must lie strictly"),
        ({"truth": {"theta": [0.2, 0.5, 0.7], "weights": [0.5, 0.5]}}, "truth['theta']: expected shape (2,)"),
        ({"truth": {"theta": [0.3, 0.7], "weights": [0.5, 0.6]}}, "truth['weights']: expected positive weights"),
        ({"truth": {"theta": ["a", "b"], "weights": [0.5, 0.5]}}, "truth['theta']: expected real numbers"),
        (
            {"problem": "gmm", "truth": {**GMM_TRUTH, "means": [[1.0], [0.0]]}},
            "truth['means']: components must come in",
        ),
        (
            {"problem": "gmm", "truth": {**GMM_TRUTH, "covariances": [[[1.0]], [[-1.0]]]}},
            "truth['covariances']: expected positive definite",
        ),
        (
            {"problem": "gmm", "truth": {**GMM_TRUTH, "means": [0.0, 1.0]}},
            "truth['means']: expected finite values of shape (2, d)",
        ),
    ],
)
def test_bad_arguments_are_named(options, message):
    options = {"problem": "two-coins", **options}
    with pytest.raises(ValueError) as error:
        coverage_study(options.pop("problem"), **options)
    assert str(error.value).startswith(message)


def test_varying_positions_are_those_that_differ():
    same, other = np.arange(3), np.arange(3) + 1
    replicates = [[same, same, np.ones(2)], [same, other, np.ones(2)], [same, same, np.ones(2)]]
    assert coverage._varying_positions(replicates) == [1]
    assert coverage._varying_positions([[same, other]]) == []
    with pytest.raises(RuntimeError, match="differ in structure"):
        coverage._varying_positions([[same], [same, same]])


def test_wilson_interval_holds_the_proportion_and_never_collapses():
    lower, upper = coverage._wilson_interval(np.array([0, 10, 20]), np.array([20, 20, 20]))
    # 0 of 20: the upper bound is z^2 / (n + z^2) (Wilson, 1927).
    z2 = stats.norm.ppf(0.975) ** 2
    np.testing.assert_allclose([lower[0], upper[0]], [0, z2 / (20 + z2)], atol=1e-12)
    np.testing.assert_allclose([lower[2], upper[2]], [1 - z2 / (20 + z2), 1], atol=1e-12)
    assert lower[1] < 0.5 < upper[1]
    assert np.isnan(coverage._wilson_interval(np.array([0]), np.array([0]))).all()


# Data as inputs of one compiled graph


def _unconstrained_point(model, rng) -> dict[str, np.ndarray]:
    with _interpreted():
        shapes = model.eval_rv_shapes()
    return {value.name: rng.normal(size=shapes[value.name]) for value in model.value_vars}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("problem", "prior", "n_inputs"),
    [
        ("two-coins", None, 1),
        # The default prior is centred and scaled by the data: its mean and scale vary too.
        ("gmm", None, 3),
        ("gmm", GaussianMixturePrior(mean=[0.0], scale=[[1.0]]), 1),
    ],
)
def test_containers_give_each_replicate_its_own_log_density(problem, prior, n_inputs):
    rng = np.random.default_rng(5)
    truth = DEFAULT_TRUTH[problem]
    simulated = [coverage._simulate(problem, 25, truth, prior, rng, 2) for _ in range(3)]
    positions = coverage._varying_positions([replicate.constants for replicate, _ in simulated])
    assert len(positions) == n_inputs
    shared_model, containers = coverage._with_data_containers(simulated[0][1], positions)
    point = _unconstrained_point(shared_model, rng)
    with _interpreted():
        shared_logp = shared_model.compile_logp()
        first = shared_logp(point)
        for replicate, own_model in simulated[1:]:
            for container, position in zip(containers, positions):
                container.set_value(replicate.constants[position])
            assert shared_logp(point) == pytest.approx(own_model.compile_logp()(point), rel=1e-12)
            assert shared_logp(point) != pytest.approx(first, rel=1e-6)


# Studies


@pytest.mark.slow
def test_small_study_table(coin_study):
    table = coin_study.table
    assert list(table.index) == COIN_LABELS
    np.testing.assert_allclose(table["truth"], [0.3, 0.7, 0.4, 0.6])
    coverages = table[["em_wald_coverage", "hdi_coverage"]].to_numpy()
    assert ((coverages >= 0) & (coverages <= 1)).all()
    assert (table[["em_wald_mean_width", "hdi_mean_width"]].to_numpy() > 0).all()
    assert (table["n_replicates"] == SMALL["replicates"]).all()
    assert (table["n_r_hat_failed"] == (~coin_study.replicates["r_hat_ok"]).sum()).all()
    assert coin_study.records.index.names == ["replicate", "parameter"]
    assert len(coin_study.records) == SMALL["replicates"] * len(COIN_LABELS)
    records = coin_study.records
    assert (records["wald_lb"] < records["em_map"]).all() and (records["em_map"] < records["wald_ub"]).all()
    assert (records["hdi_lb"] < records["posterior_mean"]).all()
    assert (records["posterior_mean"] < records["hdi_ub"]).all()


@pytest.mark.slow
def test_replicates_after_the_first_reuse_its_compiled_sampler(coin_study):
    assert coin_study.compilations == 1
    seconds = coin_study.replicates["sampling_seconds"]
    # The first replicate traces NUTS (a second or more even when XLA's code
    # comes from the persistent cache); the others only run it (milliseconds).
    assert seconds.iloc[1:].max() < seconds.iloc[0] / 3


@pytest.mark.slow
def test_each_replicate_samples_its_own_data(coin_study):
    """Each posterior mean sits at its own replicate's EM MAP, nearer than to any other's: no data are reused."""
    records = coin_study.records
    means, maps, se = (records[column].unstack().to_numpy() for column in ("posterior_mean", "em_map", "em_se"))
    # distance[r, s]: replicate r's posterior mean from replicate s's MAP, in r's standard errors.
    distance = np.sqrt((((means[:, None, :] - maps[None, :, :]) / se[:, None, :]) ** 2).sum(axis=-1))
    # At 30 experiments of 20 flips the posterior is nearly normal: its mean
    # and EM's MAP differ by a small fraction of the SE (measured 0.16-0.29
    # over all four parameters), while replicates differ by about one SE.
    assert (np.diag(distance) < 0.4).all()
    assert (distance.argmin(axis=1) == np.arange(len(distance))).all()


def _beta_hdi_width(a: float, b: float, prob: float) -> float:
    distribution = stats.beta(a, b)
    run = optimize.minimize_scalar(
        lambda lower: distribution.ppf(lower + prob) - distribution.ppf(lower), bounds=(0, 1 - prob), method="bounded"
    )
    return float(run.fun)


@pytest.mark.slow
def test_truth_at_the_prior_mode_is_covered():
    """One coin, truth at the mode of its Beta(5, 5) prior: the posterior is Beta(5 + heads, 5 + tails) exactly."""
    a = b = 5
    n, flips = 5, 20
    study = coverage_study(
        "two-coins",
        n=n,
        replicates=10,
        truth={"theta": [0.5], "weights": [1.0]},
        prior=BetaDirichletPrior(a, b),
        draws=300,
        tune=300,
        chains=2,
        random_seed=1,
    )
    theta = study.records.xs("theta[0]", level="parameter")
    # EM's MAP is (heads + a - 1) / (flips + a + b - 2): it gives each replicate's heads.
    heads = np.round(theta["em_map"] * (n * flips + a + b - 2) - (a - 1))
    posterior_a, posterior_b = a + heads, b + n * flips - heads
    exact_mean = posterior_a / (posterior_a + posterior_b)
    exact_sd = np.sqrt(exact_mean * (1 - exact_mean) / (posterior_a + posterior_b + 1))
    assert ((theta["posterior_mean"] - exact_mean).abs() < 0.25 * exact_sd).all()
    exact_width = [_beta_hdi_width(alpha, beta, 0.94) for alpha, beta in zip(posterior_a, posterior_b)]
    np.testing.assert_allclose(theta["hdi_ub"] - theta["hdi_lb"], exact_width, rtol=0.15)
    # Shrinkage towards the truth can only help: at least nominal coverage,
    # less Monte Carlo error over 10 replicates.
    row = study.table.loc["theta[0]"]
    assert row["hdi_coverage"] >= 0.7 and row["em_wald_coverage"] >= 0.7
    # The single weight is 1 in every draw: covered, and never a reason to drop a replicate.
    assert study.table.loc["weights[0]", "hdi_coverage"] == 1
    assert (study.replicates["r_hat_ok"] == theta["r_hat_ok"]).all()


@pytest.mark.slow
def test_gmm_study_compiles_once():
    study = coverage_study("gmm", n=30, replicates=2, draws=100, tune=100, chains=1, random_seed=2)
    assert list(study.table.index) == [
        "weights[0]", "weights[1]", "covariances[0, 0, 0]", "covariances[1, 0, 0]", "means[0, 0]", "means[1, 0]"
    ]
    assert study.compilations == 1
    means = study.records.xs("means[1, 0]", level="parameter")
    assert ((means["posterior_mean"] - means["em_map"]).abs() < means["em_se"]).all()


# Pictures


def _hand_made_study() -> CoverageStudy:
    table = pd.DataFrame(
        {
            "truth": [0.3, 0.7],
            "em_wald_coverage": [0.9, 1.0],
            "hdi_coverage": [0.95, 0.0],
            "em_wald_mean_width": [0.1, 0.08],
            "hdi_mean_width": [0.11, 0.09],
            "n_replicates": [20, 20],
            "n_r_hat_failed": [2, 2],
            "n_se_failed": [0, 0],
        },
        index=pd.Index(["theta[0]", "theta[1]"], name="parameter"),
    )
    return CoverageStudy(
        problem="two-coins", n=40, table=table, records=pd.DataFrame(), replicates=pd.DataFrame(), compilations=1
    )


def test_plot_has_a_coverage_and_a_width_panel():
    figure = plot_coverage(_hand_made_study())
    assert isinstance(figure, Figure)
    coverage_axis, width_axis = figure.axes
    assert [label.get_text() for label in coverage_axis.get_xticklabels()] == ["theta[0]", "theta[1]"]
    # Two methods with error bars, and the nominal line.
    assert len(coverage_axis.containers) == 2 and len(coverage_axis.lines) >= 1
    assert len(width_axis.patches) == 4


def test_save_coverage_plot_writes_a_png(tmp_path):
    path = save_coverage_plot(_hand_made_study(), tmp_path)
    assert path == tmp_path / "coverage.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="^directory: "):
        save_coverage_plot(_hand_made_study(), tmp_path / "missing")


# Command line


def test_cli_refuses_bad_input_in_one_line(capsys, tmp_path):
    assert main(["coverage", "gmm", "--n", "1"]) == 2
    assert capsys.readouterr().err.startswith("em-bayes: error: n: 2 components need at least 2 observations")
    assert main(["coverage", "two-coins", "--plots", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("em-bayes: error: --plots: ")


@pytest.mark.slow
def test_cli_json_and_plot(capsys, tmp_path):
    argv = ["coverage", "two-coins", "--replicates", "2", "--n", "30", "--draws", "200", "--tune", "200", "--seed", "1"]
    assert main([*argv, "--json", "--plots", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["parameter"] for row in result["parameters"]] == COIN_LABELS
    assert result["compilations"] == 1 and len(result["replicates"]) == 2
    assert (tmp_path / "coverage.png").read_bytes()[:8] == PNG_SIGNATURE
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "EM's Wald interval beside the posterior's HDI" in out and "compiled 1 time(s)" in out
