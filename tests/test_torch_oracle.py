"""PyTorch autograd as an independent float64 oracle (skipped without torch)."""

import numpy as np
import pytest
from hypothesis import given, settings

import nnfunc as nf
from tests.strategies import output_problems, problems

torch = pytest.importorskip("torch")

TORCH_ACTIVATIONS = {
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "linear": lambda z: z,
}


def torch_network(params, x, activation):
    """(params, x, logits) as torch tensors that track gradients: the same network's forward pass."""
    L = len(params) // 2
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx = torch.tensor(x, requires_grad=True)
    A = tx
    for l in range(1, L):
        A = TORCH_ACTIVATIONS[activation[l - 1]](A @ tp[f"W{l}"] + tp[f"b{l}"])
    return tp, tx, A @ tp[f"W{L}"] + tp[f"b{L}"]


def torch_loss(params, x, y, activation, l2):
    """(loss, probs, grads, dx) of the same network by torch autograd."""
    L = len(params) // 2
    tp, tx, logits = torch_network(params, x, activation)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    loss = loss + 0.5 * l2 * sum((tp[f"W{l}"] ** 2).sum() for l in range(1, L + 1))
    loss.backward()
    probs = torch.softmax(logits, dim=1).detach().numpy()
    return loss.item(), probs, {k: t.grad.numpy() for k, t in tp.items()}, tx.grad.numpy()


@settings(max_examples=50)
@given(problems())
def test_forward_loss_and_gradients_equal_torch_autograd(prob):
    kw = dict(activation=prob.activation)
    want_loss, want_probs, want_grads, want_dx = torch_loss(prob.params, prob.x, prob.y, prob.activation, prob.l2)
    probs, _ = nf.forward(prob.params, prob.x, **kw)
    value, grads = nf.value_and_grad(prob.params, prob.x, prob.y, l2=prob.l2, **kw)
    dx = nf.input_grad(prob.params, prob.x, prob.y, l2=prob.l2, **kw)
    np.testing.assert_allclose(value, want_loss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probs, want_probs, rtol=1e-10, atol=1e-14)
    for k in prob.params:
        np.testing.assert_allclose(grads[k], want_grads[k], rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-9, atol=1e-12)


def torch_output_loss(params, x, y, activation, output, weights):
    """(loss, grads, dx) of a network with another output layer, by torch autograd and torch's own losses."""
    tp, tx, z = torch_network(params, x, activation)
    target = torch.tensor(y)
    if output == "logistic":
        rows = torch.nn.functional.binary_cross_entropy_with_logits(z, target, reduction="none").sum(1)
    elif output == "identity":
        rows = 0.5 * torch.nn.functional.mse_loss(z, target, reduction="none").sum(1)
    else:  # full=False leaves out the Stirling term; nnfunc's deviance adds y log y - y, constant in the params
        rows = torch.nn.functional.poisson_nll_loss(z, target, log_input=True, full=False, reduction="none").sum(1)
        rows = rows + torch.special.xlogy(target, target).sum(1) - target.sum(1)
    w = torch.ones(len(y), dtype=z.dtype) if weights is None else torch.tensor(weights)
    loss = (w * rows).sum() / w.sum()
    loss.backward()
    return loss.item(), {k: t.grad.numpy() for k, t in tp.items()}, tx.grad.numpy()


@settings(max_examples=60)
@given(output_problems(outputs=("logistic", "identity", "exp"), l2=0.0))
def test_other_output_losses_and_gradients_equal_torch_autograd(case):
    prob, output, weights = case
    kw = dict(activation=prob.activation, output=output, weights=weights)
    want_loss, want_grads, want_dx = torch_output_loss(prob.params, prob.x, prob.y, prob.activation, output, weights)
    value, grads = nf.value_and_grad(prob.params, prob.x, prob.y, **kw)
    dx = nf.input_grad(prob.params, prob.x, prob.y, **kw)
    np.testing.assert_allclose(value, want_loss, rtol=1e-10, atol=1e-12)
    for k in prob.params:
        np.testing.assert_allclose(grads[k], want_grads[k], rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-9, atol=1e-12)
