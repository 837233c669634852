"""What a comparison concludes: do EM's MAP and PyMC's MAP agree, and can the posterior be trusted.

A table that shows EM's MAP beside PyMC's MAP looks like a check whether or
not the two are the same optimum; the verdict says which it is, and what to do
when they are not.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .modes import chain_optima

__all__ = ["ESS_PER_CHAIN", "MAP_RTOL", "R_HAT_LIMIT", "Verdict", "chains_near", "max_relative_difference"]

MAP_RTOL = 1e-4
"""Two MAPs agree when no parameter differs by more than this, relative to its variable's size.

EM stops at a relative change of 1e-10 in its objective and L-BFGS at a
projected gradient of 1e-9, which pins each estimate to about 1e-6 of its scale;
distinct optima of a mixture differ by far more than 1e-4.
"""

R_HAT_LIMIT = 1.01
"""Chains whose rank-normalized r_hat exceeds this disagree (Vehtari et al. 2021)."""

ESS_PER_CHAIN = 100
"""Bulk ESS below this many per chain is too little to trust the posterior summary (Vehtari et al. 2021)."""


def max_relative_difference(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> float:
    """The largest difference between two points, each variable relative to its size in ``second``.

    For each variable, ``max |first - second| / max |second|`` (entries near 0,
    such as a small off-diagonal covariance, are measured against the
    variable's scale, not their own); the largest over the variables.
    """
    differences = []
    for name, value in second.items():
        value = np.asarray(value, dtype=float)
        scale = np.max(np.abs(value)) or 1.0
        differences.append(np.max(np.abs(np.asarray(first[name], dtype=float) - value)) / scale)
    return float(max(differences))


@dataclass(frozen=True)
class Verdict:
    """The comparison's conclusions.

    Attributes
    ----------
    max_map_relative_difference : float
        :func:`max_relative_difference` of EM's MAP from PyMC's best MAP.
    em_map_log_posterior : float
        The model's log posterior density at EM's MAP.
    pymc_map_log_posteriors : dict of str to float
        PyMC's optimum from each start (``"em_mle"``, ``"em_map"``): its log posterior.
    pymc_map_start : str
        The start whose optimum had the higher log posterior: PyMC's MAP.
    start_nudged : bool
        Whether EM's MAP had to be moved into the model's interior to start
        NUTS (equal components, which the ordering cannot hold, or a value on
        a boundary).
    n_chains, divergences : int
        Chains sampled and divergent transitions over all of them.
    max_r_hat, min_ess_bulk : float
        Worst r_hat (NaN with one chain) and smallest bulk ESS over the parameters.
    em_map_in_hdi, n_parameters : int
        How many of the scalar parameters have EM's MAP inside the 94% HDI, of how many.
    chains_near : tuple of str
        Per chain, the optimum its posterior mean lies nearest: ``"em_map"``,
        ``"pymc_map"`` (when the MAPs disagree) or ``"em_optimum_i"``, another
        end point of EM's restarts.
    """

    max_map_relative_difference: float
    em_map_log_posterior: float
    pymc_map_log_posteriors: dict[str, float]
    pymc_map_start: str
    start_nudged: bool
    n_chains: int
    divergences: int
    max_r_hat: float
    min_ess_bulk: float
    em_map_in_hdi: int
    n_parameters: int
    chains_near: tuple[str, ...]

    @property
    def maps_agree(self) -> bool:
        return self.max_map_relative_difference <= MAP_RTOL

    @property
    def pymc_map_log_posterior(self) -> float:
        return self.pymc_map_log_posteriors[self.pymc_map_start]

    @property
    def r_hat_ok(self) -> bool | None:
        """r_hat within :data:`R_HAT_LIMIT` for every parameter; None with one chain, where it is undefined."""
        return None if self.n_chains < 2 else bool(self.max_r_hat <= R_HAT_LIMIT)

    @property
    def ess_ok(self) -> bool:
        return bool(self.min_ess_bulk >= ESS_PER_CHAIN * self.n_chains)

    @property
    def posterior_ok(self) -> bool:
        """r_hat checked and fine, enough ESS, no divergences."""
        return bool(self.r_hat_ok) and self.ess_ok and self.divergences == 0

    def lines(self) -> list[str]:
        """The verdict as text, its first line starting ``Verdict:``."""
        difference = f"largest relative difference {self.max_map_relative_difference:.2g}"
        if self.maps_agree:
            lines = [
                f"Verdict: EM's MAP and PyMC's MAP agree ({difference} <= {MAP_RTOL:g}; "
                f"log posterior {self.em_map_log_posterior:.6f})."
            ]
        else:
            lines = [f"Verdict: EM's MAP and PyMC's MAP disagree ({difference} > {MAP_RTOL:g})."]
            start = {"em_mle": "EM's MLE", "em_map": "EM's MAP"}[self.pymc_map_start]
            if self.pymc_map_log_posterior > self.em_map_log_posterior:
                lines.append(
                    f"  PyMC's optimizer, started from {start}, reached the higher log posterior "
                    f"({self.pymc_map_log_posterior:.6f} against EM's {self.em_map_log_posterior:.6f}): EM stopped "
                    "at a lesser optimum; fit EM with more starts (--n-init) and compare again."
                )
            else:
                lines.append(
                    f"  EM's MAP has the higher log posterior ({self.em_map_log_posterior:.6f} against PyMC's "
                    f"{self.pymc_map_log_posterior:.6f}): PyMC's optimizer stopped at a lesser optimum or a saddle; "
                    "EM's MAP stands, and the pymc_map column does not check it."
                )
        if self.start_nudged:
            lines.append(
                "  EM's MAP has equal components or a value on a boundary, which the model's ordering cannot hold: "
                "NUTS started from it nudged into the interior (by about e^-10)."
            )
        lines.append(self._posterior_line())
        lines.append(
            f"  EM's MAP lies inside the posterior's 94% HDI for {self.em_map_in_hdi} of {self.n_parameters} parameters."
        )
        lines.append(self._chains_line())
        return lines

    def _posterior_line(self) -> str:
        problems = []
        if self.r_hat_ok is None:
            problems.append("r_hat needs at least two chains and was not checked (run --chains 2 or more)")
        elif not self.r_hat_ok:
            problems.append(f"r_hat {self.max_r_hat:.3f} > {R_HAT_LIMIT} (the chains have not mixed; run more draws or tune steps)")
        if not self.ess_ok:
            problems.append(
                f"bulk ESS {self.min_ess_bulk:.0f} < {ESS_PER_CHAIN * self.n_chains} ({ESS_PER_CHAIN} per chain; run more draws)"
            )
        if self.divergences:
            problems.append(f"{self.divergences} divergent transitions (raise --tune, or check the prior)")
        if not problems:
            return (
                f"  Posterior: acceptable (r_hat at most {self.max_r_hat:.3f}, bulk ESS at least "
                f"{self.min_ess_bulk:.0f}, no divergences)."
            )
        return "  Posterior: not acceptable: " + "; ".join(problems) + "."

    def _chains_line(self) -> str:
        groups: dict[str, list[int]] = {}
        for chain, optimum in enumerate(self.chains_near):
            groups.setdefault(optimum, []).append(chain)
        if len(groups) == 1:
            (optimum,) = groups
            return f"  Chains: all {self.n_chains} sit nearest {_optimum_name(optimum)}."
        parts = [f"{', '.join(map(str, chains))} nearest {_optimum_name(optimum)}" for optimum, chains in groups.items()]
        return "  Chains: " + "; ".join(parts) + " (the chains explore different optima)."

    def to_json_dict(self) -> dict:
        """Plain values, with the booleans ``maps_agree`` and ``posterior_ok``."""
        return {
            "maps_agree": self.maps_agree,
            "posterior_ok": self.posterior_ok,
            "max_map_relative_difference": self.max_map_relative_difference,
            "em_map_log_posterior": self.em_map_log_posterior,
            "pymc_map_log_posteriors": dict(self.pymc_map_log_posteriors),
            "pymc_map_start": self.pymc_map_start,
            "start_nudged": self.start_nudged,
            "r_hat_ok": self.r_hat_ok,
            "max_r_hat": None if np.isnan(self.max_r_hat) else self.max_r_hat,
            "ess_ok": self.ess_ok,
            "min_ess_bulk": self.min_ess_bulk,
            "divergences": self.divergences,
            "em_map_in_hdi": self.em_map_in_hdi,
            "n_parameters": self.n_parameters,
            "chains_near": list(self.chains_near),
            "text": self.lines(),
        }


def _optimum_name(optimum: str) -> str:
    """``em_map``, ``pymc_map`` or ``em_optimum_i`` in words."""
    if optimum.startswith("em_optimum_"):
        return f"optimum {optimum.rpartition('_')[2]} of EM's starts (not its best)"
    return {"em_map": "EM's MAP", "pymc_map": "PyMC's MAP"}[optimum]


def chains_near(posterior, em_optima: pd.DataFrame, pymc_map: pd.Series | None) -> tuple[str, ...]:
    """Per chain, the name of the optimum nearest its posterior mean.

    ``em_optima`` is :func:`inference.modes.distinct_optima` of EM's MAP fit
    (row 0, the best, is EM's MAP); ``pymc_map``, labelled as its columns, is
    added as a further candidate when given (the MAPs disagree).
    """
    candidates = em_optima.copy()
    names = ["em_map"] + [f"em_optimum_{i}" for i in range(1, len(em_optima))]
    if pymc_map is not None:
        candidates = pd.concat([candidates, pymc_map.to_frame().T], ignore_index=True)
        names.append("pymc_map")
    nearest = chain_optima(posterior, candidates.rename_axis("optimum"))["optimum"]
    return tuple(names[i] for i in nearest)
