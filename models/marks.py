"""A small class's marks with gaps: the multivariate normal with missing values."""

from dataclasses import dataclass

import numpy as np

__all__ = ["MARKS_COVARIANCE", "MARKS_MEAN", "MARKS_SEED", "ClassMarks", "class_marks"]

MARKS_SEED = 20240917
"""Seed of the generator that made :func:`class_marks`."""

MARKS_MEAN = np.array([62.0, 58.0, 66.0])
"""The true mean marks in maths, physics and chemistry."""

MARKS_COVARIANCE = np.array(
    [
        [144.0, 117.6, 79.2],
        [117.6, 196.0, 107.8],
        [79.2, 107.8, 121.0],
    ]
)
"""The true covariance: standard deviations 12, 14 and 11; correlations 0.7
(maths, physics), 0.6 (maths, chemistry) and 0.7 (physics, chemistry)."""


@dataclass(frozen=True)
class ClassMarks:
    """Marks out of 100, one row per student, NaN where a mark is missing.

    ``x`` has shape (n_students, n_subjects); ``columns`` names the subjects.
    """

    x: np.ndarray
    columns: tuple[str, ...]


def class_marks() -> ClassMarks:
    """Thirty students' marks in maths, physics and chemistry, about a fifth of them missing.

    Made with ``numpy.random.default_rng(MARKS_SEED)``: 30 rows drawn as
    ``MARKS_MEAN + z @ L.T`` with ``z`` standard normal (30, 3) and ``L`` the
    lower Cholesky factor of ``MARKS_COVARIANCE``; clipped to [0, 100] and
    rounded to whole marks. Then every cell is missing completely at random
    with probability 0.2 (uniforms drawn from the same generator, in row-major
    order); a row that lost all three marks gets back the mark in the column
    drawn for it, so that no row is empty. With this seed 20 of the 90 cells
    are missing, no row lost all three and every column keeps most of its marks.
    """
    rng = np.random.default_rng(MARKS_SEED)
    n_students = 30
    normal = rng.standard_normal((n_students, MARKS_MEAN.size))
    marks = np.round(np.clip(MARKS_MEAN + normal @ np.linalg.cholesky(MARKS_COVARIANCE).T, 0, 100))
    missing = rng.random(marks.shape) < 0.2
    empty = np.flatnonzero(missing.all(axis=1))
    missing[empty, rng.integers(MARKS_MEAN.size, size=empty.size)] = False
    x = np.where(missing, np.nan, marks)
    x.flags.writeable = False
    return ClassMarks(x=x, columns=("maths", "physics", "chemistry"))
