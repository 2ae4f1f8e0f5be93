"""The training loop's fast path: one mini-batch update written into arrays the loop owns.

Private to ``nnfunc.training``: ``step_in_place`` overwrites the params,
the optimizer state and the gradient buffers it is given, which is only
safe for a caller that allocated all of them (``loop.fit`` works on private
copies). It runs the same floating-point operations as the pure path
(``value_and_grad``, ``opt.update``, ``apply_updates``), so the two agree
bit for bit (tests/test_fit.py checks it).
"""

import numpy as np

from nnfunc.losses import softmax_cross_entropy, softmax_cross_entropy_grad
from nnfunc.model import _backward, _forward
from nnfunc.optim.optimizers import apply_updates


def make_buffers(params):
    """Arrays ``step_in_place`` writes into: the gradients, and one spare per key for the optimizer."""
    return {"grads": {k: np.empty_like(v) for k, v in params.items()},
            "spare": {k: np.empty_like(v) for k, v in params.items()}}


def step_in_place(params, opt_state, xb, yb, opt, acts, l2, dropout, rng, buffers):
    """One unchecked update of ``params`` and ``opt_state``, in place.

    Args:
        params, opt_state: owned by the caller; overwritten.
        xb: (k, n0) float in the params' dtype; yb: (k,) int class ids.
        opt: an Optimizer; acts: resolved activations (``activations.resolve``).
        l2: L2 strength; dropout: rate in [0, 1); rng: Generator for the masks.
        buffers: from ``make_buffers(params)``.

    Returns:
        (params, opt_state, ce, logits): the same param arrays (new ones for an
        optimizer without ``update_in_place``), the new state,
        the batch's mean cross-entropy (without L2) and its logits (k, nL).
    """
    cache = _forward(params, xb, acts, dropout, rng)
    ce, probs = softmax_cross_entropy(cache["logits"], yb)
    grads, _ = _backward(params, cache, softmax_cross_entropy_grad(probs, yb), acts, l2, out=buffers["grads"])
    if opt.update_in_place is None:  # an optimizer of the user's own: its pure update, new dicts
        updates, opt_state = opt.update(grads, opt_state, params)
        return apply_updates(params, updates), opt_state, ce, cache["logits"]
    params, opt_state = opt.update_in_place(grads, opt_state, params, buffers["spare"])
    return params, opt_state, ce, cache["logits"]
