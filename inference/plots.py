"""Pictures of a :class:`~inference.compare.Comparison`, each a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` and rendered by the Agg
canvas, never through ``pyplot``: no global state, no display needed, and a
notebook's own backend is left alone. Densities are ArviZ's KDE
(``arviz_stats.kde``).
"""

import io
import os
from pathlib import Path

import arviz_stats
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
import numpy as np
from scipy import stats
import xarray as xr

from .compare import Comparison
from .em import GaussianMixtureResult
from .em.gaussian import _check_x
from .em.information import _full_covariances
from .io import write_atomically

__all__ = [
    "save_figure",
    "plot_assignments",
    "plot_data_fit",
    "plot_objective_trace",
    "plot_posterior_densities",
    "save_plots",
]

DPI = 80
"""Resolution of saved pictures: small files, still legible."""

ELLIPSE_SIGMAS = 2.0
"""Half-axes of the 2-D component ellipses, in standard deviations."""


def _grid(n_panels: int, *, max_columns: int = 4, size: float = 3.0) -> tuple[Figure, np.ndarray]:
    """A figure with ``n_panels`` axes in rows of at most ``max_columns``; unused axes hidden."""
    n_columns = min(n_panels, max_columns)
    n_rows = -(-n_panels // n_columns)
    figure = Figure(figsize=(size * n_columns, size * 0.8 * n_rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(n_rows, n_columns, squeeze=False).ravel())
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    return figure, axes[:n_panels]


def plot_objective_trace(comparison: Comparison) -> Figure:
    """EM's objective after every iteration, for the MLE (log-likelihood) and the MAP (log posterior).

    EM never lowers its objective; the curves show how fast each run settled.
    """
    figure, axes = _grid(2, size=4.0)
    for axis, (label, fit) in zip(axes, (("MLE", comparison.em_mle), ("MAP", comparison.em_map))):
        axis.plot(np.arange(fit.objective_trace.size), fit.objective_trace, marker=".", markersize=3)
        axis.set(title=f"EM {label}", xlabel="iteration", ylabel=fit.objective_name)
    return figure


def _draws_by_label(posterior: xr.Dataset, names: list[str]) -> dict[str, np.ndarray]:
    """Every scalar parameter's draws (n_chains * n_draws,), labelled ``name[i, j]`` as ArviZ labels them."""
    draws = {}
    for name in names:
        values = posterior[name].stack(sample=("chain", "draw"))
        element_dims = [dim for dim in values.dims if dim != "sample"]
        if not element_dims:
            draws[name] = values.values
            continue
        flat = values.stack(element=element_dims).transpose("element", "sample")
        for index, row in zip(flat["element"].values, flat.values):
            draws[f"{name}[{', '.join(map(str, np.atleast_1d(index)))}]"] = row
    return draws


def plot_posterior_densities(comparison: Comparison) -> Figure:
    """The posterior density of every parameter, with EM's MLE, EM's MAP and PyMC's MAP as vertical lines.

    One panel per row of ``comparison.table``.
    """
    table = comparison.table
    posterior = comparison.tree["posterior"].dataset
    names = sorted({label.partition("[")[0] for label in table.index})
    draws = _draws_by_label(posterior, names)
    figure, axes = _grid(len(table))
    markers = {
        "em_mle": ("EM MLE", "tab:orange", ":"),
        "em_map": ("EM MAP", "tab:red", "-"),
        "pymc_map": ("PyMC MAP", "k", "--"),
    }
    for axis, label in zip(axes, table.index):
        grid, density, _ = arviz_stats.kde(draws[label])
        axis.plot(grid, density, color="tab:blue", label="posterior")
        for column, (legend, colour, style) in markers.items():
            axis.axvline(table.loc[label, column], color=colour, linestyle=style, linewidth=1, label=legend)
        axis.set(title=label, yticks=[])
    axes[0].legend(fontsize="small")
    return figure


def plot_assignments(comparison: Comparison) -> Figure:
    """EM's responsibilities at the MAP against the posterior probability of every assignment.

    One point per sample and component; points on the diagonal agree.
    """
    assignments = comparison.assignments
    components = [column.removeprefix("em_map") for column in assignments if column.startswith("em_map[")]
    figure = Figure(figsize=(4.0, 4.0), layout="constrained")
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="grey", linewidth=1)
    for component in components:
        axis.scatter(
            assignments[f"em_map{component}"],
            assignments[f"posterior{component}"],
            s=10,
            alpha=0.6,
            label=component.strip("[]"),
        )
    axis.set(
        xlabel="EM responsibility (MAP)",
        ylabel="posterior assignment probability",
        xlim=(-0.02, 1.02),
        ylim=(-0.02, 1.02),
        aspect="equal",
    )
    axis.legend(title="component", fontsize="small")
    return figure


def plot_data_fit(comparison: Comparison, *, x=None) -> Figure:
    """The data with EM's MAP mixture: a histogram with component densities (1-D), or ellipses (2-D).

    Gaussian mixtures only. ``x`` (n_samples, n_features) or (n_samples,)
    defaults to the comparison's observed data. In 2-D each component is an
    ellipse of ``ELLIPSE_SIGMAS`` standard deviations around its mean.
    """
    fit = comparison.em_map
    if not isinstance(fit, GaussianMixtureResult):
        raise ValueError("comparison: the data plot is for Gaussian mixtures only")
    x = _check_x(comparison.tree["observed_data"]["x"].values if x is None else x)
    weights, means = fit.params["weights"], fit.params["means"]
    n_components, n_features = means.shape
    if x.shape[1] != n_features:
        raise ValueError(f"x: expected {n_features} columns, got {x.shape[1]}")
    covariances = _full_covariances(fit.params["covariances"], fit.covariance_type, n_components, n_features)
    figure = Figure(figsize=(5.0, 3.5 if n_features == 1 else 5.0), layout="constrained")
    axis = figure.subplots()
    if n_features == 1:
        axis.hist(x[:, 0], bins="auto", density=True, color="lightgrey", label="data")
        grid = np.linspace(x.min() - x.std(), x.max() + x.std(), 400)
        densities = weights * stats.norm.pdf(grid[:, None], means[:, 0], np.sqrt(covariances[:, 0, 0]))
        for k in range(n_components):
            axis.plot(grid, densities[:, k], label=f"component {k}")
        axis.plot(grid, densities.sum(axis=1), color="k", label="mixture")
        axis.set(xlabel="x", ylabel="density", title="EM MAP")
    elif n_features == 2:
        axis.scatter(x[:, 0], x[:, 1], s=6, color="grey", alpha=0.5)
        for k in range(n_components):
            eigenvalues, eigenvectors = np.linalg.eigh(covariances[k])
            angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
            width, height = 2 * ELLIPSE_SIGMAS * np.sqrt(eigenvalues[::-1])
            colour = f"C{k}"
            axis.add_patch(Ellipse(means[k], width, height, angle=angle, fill=False, color=colour, linewidth=2))
            axis.plot(*means[k], marker="x", color=colour, label=f"component {k} ({weights[k]:.2f})")
        axis.set(xlabel="x[0]", ylabel="x[1]", title=f"EM MAP, {ELLIPSE_SIGMAS:g}-sigma ellipses")
    else:
        raise ValueError(f"x: the data plot needs 1 or 2 features, got {n_features}")
    axis.legend(fontsize="small")
    return figure


def save_figure(figure: Figure, path: Path) -> None:
    """Write ``figure`` as PNG to ``path`` atomically: a failed write leaves no file behind."""
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=DPI)
    write_atomically(path, image.getvalue())


def save_plots(comparison: Comparison, directory: str | os.PathLike, *, x=None) -> list[Path]:
    """Write every picture of ``comparison`` as a PNG into ``directory``; return their paths.

    ``objective_trace.png``, ``posterior_densities.png`` and
    ``assignments.png`` always; ``data_fit.png`` for a Gaussian mixture with
    1 or 2 features (``x`` as in :func:`plot_data_fit`). Each file is written
    atomically; a picture that fails raises and leaves no file of its own.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory: {directory} does not exist or is not a directory")
    plots = {
        "objective_trace": plot_objective_trace,
        "posterior_densities": plot_posterior_densities,
        "assignments": plot_assignments,
    }
    fit = comparison.em_map
    if isinstance(fit, GaussianMixtureResult) and fit.params["means"].shape[1] <= 2:
        plots["data_fit"] = lambda comparison: plot_data_fit(comparison, x=x)
    paths = []
    for name, plot in plots.items():
        path = directory / f"{name}.png"
        save_figure(plot(comparison), path)
        paths.append(path)
    return paths
