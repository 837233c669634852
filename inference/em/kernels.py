"""Compiled loops of the Gaussian E-step, one pass over a block each.

Each of these replaces several NumPy calls that would each pass over a block of
rows (writing a temporary every time) by one loop that the compiler vectorises
over the rows. Matrix products stay with BLAS and the exponentials with NumPy,
whose SIMD ``exp`` is about 5 times faster than the compiled scalar one. Blocks
are laid out with the rows as the last, contiguous axis. Compiled on first use
and cached beside this file.
"""

import numba
import numpy as np

__all__ = [
    "NO_SECOND",
    "PRODUCTS",
    "SQUARES",
    "features_into",
    "half_squared_distances_into",
    "normalise_ratios",
    "scaled_columns_into",
    "subtract_top",
]

# What :func:`features_into` writes after (1, y).
NO_SECOND = 0
SQUARES = 1
PRODUCTS = 2

_compile = numba.njit(cache=True, nogil=True, error_model="numpy")


@_compile
def features_into(x, start, shift, second, out):
    """Write the features of the rows ``x[start : start + n_rows]`` about ``shift`` (n_features,) into ``out``.

    ``x`` (n_samples, n_features) comes whole, not as a slice of rows, so
    that the compiled loop knows its layout and reads each column of a
    column-major ``x`` with unit stride: given a slice, whose layout is known
    only at run time, it took 1.7 times as long. ``out`` (n_feature_rows, n_rows): 1, then
    ``y = x - shift``, then by ``second``: nothing (:data:`NO_SECOND`),
    ``y_j^2`` (:data:`SQUARES`), or ``y_j y_l`` for ``j <= l`` in
    ``np.triu_indices`` order (:data:`PRODUCTS`). Returns ``out``.
    """
    n_rows = out.shape[1]
    n_features = x.shape[1]
    for i in range(n_rows):
        out[0, i] = 1.0
    for j in range(n_features):
        centre = shift[j]
        column = x[start : start + n_rows, j]
        for i in range(n_rows):
            out[1 + j, i] = column[i] - centre
    row = 1 + n_features
    if second == SQUARES:
        for j in range(n_features):
            for i in range(n_rows):
                out[row + j, i] = out[1 + j, i] * out[1 + j, i]
    elif second == PRODUCTS:
        for j in range(n_features):
            for l in range(j, n_features):
                for i in range(n_rows):
                    out[row, i] = out[1 + j, i] * out[1 + l, i]
                row += 1
    return out


@_compile
def subtract_top(joint, floor):
    """Subtract each row's largest term from ``joint`` (n_components, n_rows) in place, then raise it to ``floor``.

    Returns the largest terms (n_rows,), 0 where a row's largest is not
    finite (all -inf, say). NaN propagates.
    """
    n_components, n_rows = joint.shape
    top = joint[0].copy()
    for k in range(1, n_components):
        for i in range(n_rows):
            term = joint[k, i]
            top[i] = term if term > top[i] or term != term else top[i]
    for i in range(n_rows):
        top[i] = top[i] if np.isfinite(top[i]) else 0.0
    for k in range(n_components):
        for i in range(n_rows):
            term = joint[k, i] - top[i]
            joint[k, i] = term if not term < floor else floor
    return top


# normalise_ratios multiplies row totals (each in [1, n_components]) in runs short
# enough that a run's product stays below this (~60 digits below overflow), and
# takes one log per run.
_LOG_EVERY = 1e250


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _sum_of_logs(values, run):
    """``sum(log(values))`` for ``values`` (n,) as the logs of products of ``run`` consecutive values.

    The caller chooses ``run`` so that no product overflows or underflows.
    Reassociation lets the compiler keep several partial products in vector
    registers: one product carried row after row waits for the previous
    multiplication, four times as long per row.
    """
    n_values = values.shape[0]
    n_runs = n_values // run
    total = 0.0
    for r in range(n_runs):
        values_of_run = values[r * run : (r + 1) * run]
        product = 1.0
        for i in range(run):
            product *= values_of_run[i]
        total += np.log(product)
    product = 1.0
    for i in range(n_runs * run, n_values):
        product *= values[i]
    return total + np.log(product)


@_compile
def normalise_ratios(ratios, negligible):
    """Normalise ``ratios`` (n_components, n_rows) in place so that each row sums to 1; return the sum of the rows' log totals.

    Ratios not above ``negligible`` become 0 first. A row totalling 0 becomes
    NaN and makes the sum -inf; NaN propagates. The logs of the totals are
    taken a few times per block, of their products over runs of rows: each
    total is at least 1 when the row's largest ratio is 1, as after
    :func:`subtract_top`, and at most n_components, so a run of
    ``log(_LOG_EVERY) / log(n_components)`` rows neither underflows nor
    overflows.
    """
    n_components, n_rows = ratios.shape
    totals = np.zeros(n_rows)
    for k in range(n_components):
        for i in range(n_rows):
            ratio = ratios[k, i]
            ratio = ratio if not ratio <= negligible else 0.0
            ratios[k, i] = ratio
            totals[i] += ratio
    reciprocals = 1.0 / totals
    for k in range(n_components):
        for i in range(n_rows):
            ratios[k, i] *= reciprocals[i]
    run = n_rows if n_components < 2 else int(np.log(_LOG_EVERY) / np.log(n_components))
    return _sum_of_logs(totals, max(run, 1))


@_compile
def half_squared_distances_into(whitened, centres, constant, out):
    """``out[k, i] = constant[k] - sum_j (whitened[f + j, i] - centres[k, j])^2 / 2``, ``f`` the first row of component k's factor.

    ``whitened`` (n_factors * n_features, n_rows) stacks the rows whitened
    by one factor per component (n_factors = n_components, f = k n_features)
    or by one shared factor (n_factors = 1, f = 0); ``centres``
    (n_components, n_features), ``constant`` (n_components,), ``out``
    (n_components, n_rows). Returns ``out``.
    """
    n_components, n_features = centres.shape
    n_rows = out.shape[1]
    shared = whitened.shape[0] == n_features
    for k in range(n_components):
        first = 0 if shared else k * n_features
        for i in range(n_rows):
            out[k, i] = 0.0
        for j in range(n_features):
            centre = centres[k, j]
            row = whitened[first + j]
            for i in range(n_rows):
                distance = row[i] - centre
                out[k, i] += distance * distance
        for i in range(n_rows):
            out[k, i] = constant[k] - 0.5 * out[k, i]
    return out


@_compile
def scaled_columns_into(block, scales, out):
    """``out[j, i] = block[j, i] * scales[i]``: ``block`` and ``out`` (m, n_rows), ``scales`` (n_rows,).

    NumPy's broadcast product took 1.8 times as long on blocks of 50 x 1285.
    Returns ``out``.
    """
    for j in range(block.shape[0]):
        for i in range(block.shape[1]):
            out[j, i] = block[j, i] * scales[i]
    return out
