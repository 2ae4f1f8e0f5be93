"""check_network and the gradcheck CLI on real networks.

Random small networks of every activation pass; planted bugs in a wrapped
backward (a scaled W1, a dropped L2 term, a wrong dx) fail in the right row;
ReLU units sitting at their kink are skipped, not failed; the CLI checks a
784-25-25-10 network end to end in a subprocess.
"""

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc.params import param_keys
from nnfunc.verify import network as netcheck
from nnfunc.errors import GradientMismatchError, InputError, ParamsError
from nnfunc.verify.checker import DEFAULT_EPS
from nnfunc.verify.network import assert_network_gradients, check_network
from tests.strategies import architectures

REPO = Path(__file__).resolve().parent.parent
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "linear")
MODES = ("full", "sample", "direction")


def problem(sizes, seed, *, m=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = nf.init(sizes, rng, dtype=dtype)
    # nonzero biases so a wrong bias gradient cannot hide behind b = 0
    params = {k: v + dtype(0.1) * rng.standard_normal(v.shape).astype(dtype) if k[0] == "b" else v
              for k, v in params.items()}
    x = rng.random((m, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], m)
    return params, x, y


@given(arch=architectures(max_layers=3, max_width=5), seed=st.integers(0, 2**32 - 1), one_name=st.booleans(),
       l2=st.sampled_from([0.0, 0.1]), m=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_random_small_networks_pass(arch, seed, one_name, l2, m, dtype):
    sizes, acts = arch
    # the spec either way: one name for every hidden layer, or one name per layer
    activation = acts[0] if one_name and acts else acts
    params, x, y = problem(sizes, seed, m=m, dtype=dtype)
    report = check_network(params, x, y, activation=activation, l2=l2, mode="full")
    assert report.ok, report.format()
    assert [row.name for row in report.rows] == [*param_keys(len(sizes) - 1), "x"]
    assert sum(row.checked + row.kinks for row in report.rows) == x.size + sum(
        v.size for v in params.values())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation_passes_in_every_mode(activation):
    params, x, y = problem((6, 5, 4, 3), seed=1)
    for mode in MODES:
        report = assert_network_gradients(params, x, y, activation=activation, l2=0.05, mode=mode)
        assert report.ok and report.max_rel_error < 1e-7


def _wrap_value_and_grad(monkeypatch, change):
    original = netcheck.value_and_grad

    def buggy(params, x, y, *, activation="relu", l2=0.0, **dropout):
        return change(functools.partial(original, **dropout), params, x, y, activation, l2)

    monkeypatch.setattr(netcheck, "value_and_grad", buggy)


BUGS = {
    "W1 scaled by 1.01": ("W1", lambda f, p, x, y, a, l2: (
        lambda v, g: (v, {**g, "W1": g["W1"] * 1.01}))(*f(p, x, y, activation=a, l2=l2))),
    "l2 term dropped": ("W1", lambda f, p, x, y, a, l2: f(p, x, y, activation=a, l2=0.0)),
    "b2 doubled": ("b2", lambda f, p, x, y, a, l2: (
        lambda v, g: (v, {**g, "b2": 2 * g["b2"]}))(*f(p, x, y, activation=a, l2=l2))),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_backward_bug_is_caught(monkeypatch, bug, mode):
    name, change = BUGS[bug]
    _wrap_value_and_grad(monkeypatch, change)
    params, x, y = problem((30, 8, 6, 3), seed=2)
    report = check_network(params, x, y, activation="tanh", l2=0.1, mode=mode)
    assert not report.ok
    rows = {row.name: row for row in report.rows}
    assert not rows[name].ok, report.format()
    assert rows["x"].ok
    if mode == "direction":
        assert report.rows[0].name == "direction" and not report.rows[0].ok


@pytest.mark.parametrize("mode", MODES)
def test_wrong_input_gradient_is_caught(monkeypatch, mode):
    original = netcheck.input_grad
    monkeypatch.setattr(netcheck, "input_grad", lambda *a, **k: original(*a, **k)[::-1])
    params, x, y = problem((30, 8, 6, 3), seed=3)
    with pytest.raises(GradientMismatchError, match="FAILED") as info:
        assert_network_gradients(params, x, y, activation="sigmoid", mode=mode)
    assert re.search(r"^x .* NO$", str(info.value), re.MULTILINE), str(info.value)


def test_relu_unit_at_its_kink_is_skipped_not_failed():
    params, x, y = problem((6, 5, 3), seed=4)
    # put unit 2 of row 0 just above its kink: Z1[0, 2] = 0.3 * eps
    params["b1"][2] -= x[0] @ params["W1"][:, 2] + params["b1"][2] - 0.3 * DEFAULT_EPS
    z = x[0] @ params["W1"][:, 2] + params["b1"][2]
    assert 0 < z < DEFAULT_EPS
    report = check_network(params, x, y, activation="relu", mode="full")
    assert report.ok, report.format()
    rows = {row.name: row for row in report.rows}
    assert rows["b1"].kinks >= 1 and rows["b1"].checked == 5 - rows["b1"].kinks
    assert "kink-crossed, skipped" in report.format()
    # smooth activations have no kink pattern: nothing is ever skipped
    assert sum(r.kinks for r in check_network(params, x, y, activation="tanh").rows) == 0


def test_callers_arrays_are_never_written():
    params, x, y = problem((5, 4, 3), seed=5, dtype=np.float32)
    before = [v.tobytes() for v in (*params.values(), x, y)]
    for array in (*params.values(), x, y):
        array.flags.writeable = False
    report = check_network(params, x, y, activation="relu", l2=0.1, mode="full")
    assert report.ok
    assert [v.tobytes() for v in (*params.values(), x, y)] == before


def test_bad_inputs_raise_typed_errors():
    params, x, y = problem((5, 4, 3), seed=6)
    with pytest.raises(ParamsError):
        check_network({k: v for k, v in params.items() if k != "b2"}, x, y)
    with pytest.raises(InputError):
        check_network(params, x[:, :4], y)
    with pytest.raises(InputError):
        check_network(params, x, y + 3)


# --- the CLI, end to end --------------------------------------------------------


def run_cli(*args):
    # one BLAS thread: for batch-8 matmuls threads only add contention on a shared machine
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nnfunc", "gradcheck", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def _verdict_error(stdout):
    match = re.search(r"^OK: max relative error (\S+) over (\d+) entries", stdout, re.MULTILINE)
    assert match, stdout
    return float(match.group(1)), int(match.group(2))


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_cli_full_check_of_784_25_25_10(activation):
    result = run_cli("--sizes", "784,25,25,10", "--activation", activation)
    assert result.returncode == 0, result.stdout + result.stderr
    error, entries = _verdict_error(result.stdout)
    assert error <= 1e-7
    assert entries == 784 * 25 + 25 + 25 * 25 + 25 + 25 * 10 + 10 + 8 * 784
    table = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    for name, shape in [("W1", "784x25"), ("b1", "25"), ("W2", "25x25"), ("b2", "25"),
                        ("W3", "25x10"), ("b3", "10"), ("x", "8x784")]:
        assert table[name][1] == shape and table[name][-1] == "yes"
        assert float(table[name][5]) <= 1e-7  # the row's max rel err


@pytest.mark.slow
def test_cli_relu_with_l2_reports_kinks():
    result = run_cli("--sizes", "784,25,25,10", "--activation", "relu", "--l2", "0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kinks" in result.stdout.splitlines()[1]
    assert re.search(r"\(\d+ kink-crossed, skipped\)$", result.stdout.strip())
    assert _verdict_error(result.stdout)[0] <= 1e-7


def test_cli_direction_mode_and_bad_arguments():
    result = run_cli("--sizes", "20,6,3", "--activation", "relu,", "--mode", "direction")
    assert result.returncode == 2 and "--activation 'relu,' for --sizes '20,6,3'" in result.stderr
    result = run_cli("--sizes", "20,6,3", "--activation", "relu,tanh")
    assert result.returncode == 2 and "2 activation names for 1 hidden layer;" in result.stderr
    result = run_cli("--sizes", "20,6,3", "--scheme", "kaiming")
    assert result.returncode == 2 and "--scheme 'kaiming' is unknown; choose one of he," in result.stderr
    result = run_cli("--sizes", "20,6,3", "--activation", "tanh", "--mode", "direction")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "direction" in result.stdout and "OK: max relative error" in result.stdout
    result = run_cli("--sizes", "20,x")
    assert result.returncode == 2 and "--sizes" in result.stderr
    result = run_cli("--sizes", "20,6,3", "--seed", "-1")
    assert result.returncode == 2 and "--seed must be an integer >= 0, got -1; pass a seed like --seed=0" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_checks_dropout_networks():
    result = run_cli("--sizes", "12,8,8,3", "--activation", "sigmoid,relu", "--dropout", "0.5",
                     "--seed", "3", "--mode", "full")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropout 0.5" in result.stdout.splitlines()[0]
    assert _verdict_error(result.stdout)[1] == 12 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3 + 8 * 12
    result = run_cli("--sizes", "12,8,3", "--dropout", "1")
    assert result.returncode == 2 and "--dropout must be a finite number in [0, 1), got 1.0" in result.stderr
