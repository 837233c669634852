"""Pictures of a comparison: every PNG is written whole, or not at all."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from inference import plots
from inference.cli import main
from inference.compare import Comparison, compare_two_coins
from inference.em import GaussianMixturePrior, fit_gaussian_mixture
from models.datasets import SEED_COINS, simulate_gaussian_mixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def coin_comparison():
    # The seed data with fixed weights: the model of `em-bayes compare two-coins`,
    # whose compiled code the CLI test shares.
    return compare_two_coins(
        SEED_COINS.heads, SEED_COINS.flips, fix_weights=True, draws=200, tune=200, chains=2, progressbar=False
    )


def _em_only_comparison(x, n_components: int) -> Comparison:
    """A Comparison holding EM fits only: enough for the objective trace and the data plot, no sampling."""
    prior = GaussianMixturePrior()
    em_mle = fit_gaussian_mixture(x, n_components, n_init=3, random_state=0)
    em_map = fit_gaussian_mixture(x, n_components, prior=prior, reg_covar=0.0, n_init=3, random_state=0)
    return Comparison(
        table=pd.DataFrame(), assignments=pd.DataFrame(), tree=xr.DataTree(), em_mle=em_mle, em_map=em_map
    )


def _is_png(path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.slow
def test_save_plots_writes_every_png(coin_comparison, tmp_path):
    paths = plots.save_plots(coin_comparison, tmp_path)
    assert [path.name for path in paths] == ["objective_trace.png", "posterior_densities.png", "assignments.png"]
    assert sorted(tmp_path.iterdir()) == sorted(paths)
    assert all(_is_png(path) for path in paths)


@pytest.mark.slow
def test_posterior_panel_per_parameter(coin_comparison):
    figure = plots.plot_posterior_densities(coin_comparison)
    assert isinstance(figure, Figure)
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in visible] == list(coin_comparison.table.index)
    # One density curve and three estimates (EM MLE, EM MAP, PyMC MAP) per panel.
    assert all(len(axis.lines) == 4 for axis in visible)


@pytest.mark.slow
def test_failing_plot_leaves_no_partial_file(coin_comparison, tmp_path, monkeypatch):
    from .test_cli import disk_full_after

    disk_full_after(monkeypatch, len(PNG_SIGNATURE))
    with pytest.raises(OSError, match="No space left on device"):
        plots.save_plots(coin_comparison, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_data_plot_needs_a_gaussian_mixture():
    comparison = Comparison(
        table=pd.DataFrame(), assignments=pd.DataFrame(), tree=xr.DataTree(), em_mle=None, em_map=None
    )
    with pytest.raises(ValueError, match="Gaussian mixtures only"):
        plots.plot_data_fit(comparison)


@pytest.mark.parametrize("n_features", [1, 2])
def test_data_plot_in_one_and_two_dimensions(n_features, tmp_path):
    means = np.array([[-2.0, 0.0], [2.0, 1.0]])[:, :n_features]
    data = simulate_gaussian_mixture(120, [0.5, 0.5], means, np.stack([np.eye(n_features)] * 2), random_state=0)
    comparison = _em_only_comparison(data.x, 2)
    figure = plots.plot_data_fit(comparison, x=data.x)
    axis = figure.axes[0]
    if n_features == 1:
        # Two components and the mixture.
        assert len(axis.lines) == 3
    else:
        assert len(axis.patches) == 2
    path = tmp_path / "fit.png"
    plots.save_figure(figure, path)
    assert _is_png(path)
    trace = plots.plot_objective_trace(comparison)
    assert [axis.get_ylabel() for axis in trace.axes] == ["log_likelihood", "log_posterior"]


def test_plots_directory_is_checked_before_sampling(capsys, tmp_path):
    status = main(["compare", "two-coins", "--plots", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("em-bayes: error: --plots:") and len(err.strip().splitlines()) == 1
