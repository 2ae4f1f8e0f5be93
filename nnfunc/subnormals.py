"""Subnormal floats: none kept, next to none made on the way. The rule, and its NumPy reference.

A float whose magnitude is below the smallest normal number of its dtype
(``np.finfo(dtype).tiny``: 1.2e-38 in float32, 2.2e-308 in float64) but
not zero is subnormal. Intel CPUs take a microcode assist of a hundred
cycles or more for an operation that reads one or makes one, so a weight
matrix holding thousands of them makes every matmul over it many times
slower: the trained default network's forward pass on 1,000 rows took 14 ms
instead of 0.6 ms. Training makes them: L2 pulls the weights of dead units
and of pixels that are almost always 0 towards 0 under Adam, and Adam's
first moment follows them down.

The rule has two parts.

1. **Nothing kept holds one.** ``flush`` turns a value with ``0 < |v| <
   tiny`` into a zero of its own sign and leaves every other value (normal
   numbers, zeros, inf, NaN) bit for bit, so it moves nothing by more than
   ``tiny``. It is applied to the params and optimizer moments every update
   writes, to the gradient of the logits that backpropagation starts from,
   and to every float array a checkpoint or model file is written from or
   read into (so runs written before the rule load flushed).
2. **A frozen tiny weight makes none, step after step.** Adam and L2 leave
   some weights (those of dead units, of pixels that are always 0) frozen
   near 1e-34: normal numbers, but their gradient ``l2 * W``, its part
   ``(1 - b1) * g`` of Adam's mean and its square underflow, and an
   underflow costs as much as reading a subnormal. So the products of the
   gradient, where the L2 term is made and where Adam and RMSprop take it
   in, go through ``scaled``, which takes an operand below ``tiny / |c|``
   as zero before multiplying by ``c`` (the product would have been
   subnormal), and ``squared_scaled``, the same for the square. Without
   them the default run took 40% longer. Other products and sums are left
   as they are: what they make passes once, and is flushed where it is kept.

Each moves a value by at most about ``tiny``, and the compiled
kernels (``nnfunc.kernels``) do exactly what these NumPy functions do, so
both backends agree bit for bit. The matmuls run in BLAS and are left
alone: a matmul whose products underflow (a dead ReLU unit's outgoing
weights times the gradient) still pays for it there.
"""

import numpy as np


def flush(a):
    """Flush the subnormal entries of ``a`` to zeros of their sign, in place.

    Args:
        a: float ndarray of any shape (written into).

    Returns:
        ``a``.
    """
    # multiplying by 0 keeps the sign, and touches only the entries below tiny
    np.multiply(a, 0, out=a, where=np.abs(a) < _tiny(a.dtype))
    return a


def flushed(tree):
    """A dict of float arrays with every subnormal flushed; ``tree`` is not modified.

    An array that holds none is passed on as it is, not copied.
    """
    return {k: flush(np.array(v)) if count(v) else v for k, v in tree.items()}


def count(a):
    """The number of subnormal entries of the float array ``a`` (0 for other dtypes)."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return 0
    return int(np.count_nonzero((np.abs(a) < _tiny(a.dtype)) & (a != 0)))


_TINIES = {}


def _tiny(dtype):
    """The smallest normal number of ``dtype`` as a Python float (looked up once per dtype)."""
    if dtype not in _TINIES:
        _TINIES[dtype] = float(np.finfo(dtype).tiny)
    return _TINIES[dtype]


def _floor(dtype, c):
    """``tiny / |c|`` in ``dtype`` for c of that dtype: below it, ``x * c`` is subnormal (inf for c = 0).

    Worked out in Python floats and rounded once to ``dtype``: for a float32 c
    that is the correctly rounded float32 quotient, as the compiled kernels
    get it (a double's 53 bits leave no double-rounding error at 24).
    """
    return dtype.type(_tiny(dtype) / abs(float(c))) if c else dtype.type(np.inf)


def _kept(x, floor):
    """x with every entry below ``floor`` in magnitude made a zero of its sign (NaN * False stays NaN)."""
    return x * (np.abs(x) >= floor)


def scaled(x, c, out=None):
    """``x * c`` for a float array and a constant, with ``|x| < tiny / |c|`` taken as a zero first.

    Args:
        x: float ndarray. c: a number, cast to x's dtype.
        out: None, or an array like x to write into (may be x).

    Returns:
        The product in x's dtype: ``x * c`` bit for bit wherever that is at
        least about ``tiny`` in magnitude, a zero (of the product's sign) below.
    """
    c = x.dtype.type(c)
    return np.multiply(_kept(x, _floor(x.dtype, c)), c, out=out)


def squared_scaled(x, c, out=None):
    """``(x * x) * c`` with ``|x| < sqrt(tiny / |c|)`` taken as a zero first (arguments as ``scaled``)."""
    c = x.dtype.type(c)
    k = _kept(x, x.dtype.type(np.sqrt(float(_floor(x.dtype, c)))))
    out = np.multiply(k, k, out=out)
    out *= c
    return out
