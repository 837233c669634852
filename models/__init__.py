"""PyMC model factories and the data the project ships with.

The factories import PyMC on first use, so that the data alone (``models.datasets``,
``models.marks``) load without it.
"""

import importlib

_LAZY = {"gaussian_mixture_model": "gaussian_mixture", "two_coins_model": "two_coins"}

__all__ = [*_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
