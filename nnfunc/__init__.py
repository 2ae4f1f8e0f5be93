"""nnfunc: a from-scratch NumPy MLP library of pure functions."""

__version__ = "0.1.0"
