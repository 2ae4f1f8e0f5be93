"""Small test utilities shared by several test files."""

import numpy as np


def copy_tree(obj):
    """Deep copy of dicts/lists/tuples of arrays."""
    if isinstance(obj, dict):
        return {k: copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(copy_tree(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


def assert_bit_identical(a, b):
    """Dicts, tuples and arrays equal bit for bit, with equal dtypes and keys."""
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_bit_identical(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            assert_bit_identical(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    else:
        assert a == b or (a != a and b != b)
