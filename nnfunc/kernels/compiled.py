"""The elementwise passes compiled with numba, one loop each: what ``nnfunc.kernels.fast()`` returns.

``layer_loops`` holds the forward and backward passes between the matmuls,
``optimizer_loops`` the optimizer updates, ``image_loops`` the warp of
training images (``nnfunc.data.augment``). Every wrapper takes the arrays
its NumPy reference would and returns None (or False) when the compiled
loop does not fit them (another dtype, not C order), so the caller falls
back to the reference.
"""

from nnfunc.kernels.layer_loops import (
    activation_grad,
    add_scaled,
    bias_activation,
    column_sums,
    cross_entropy_grad,
    softmax,
    softmax_cross_entropy,
)
from nnfunc.kernels.image_loops import warp
from nnfunc.kernels.optimizer_loops import add_all, optimizer_apply, optimizer_update, optimizer_update_all

__all__ = ["activation_grad", "add_scaled", "bias_activation", "column_sums", "cross_entropy_grad", "softmax",
           "softmax_cross_entropy", "add_all", "optimizer_apply", "optimizer_update", "optimizer_update_all",
           "warp"]
