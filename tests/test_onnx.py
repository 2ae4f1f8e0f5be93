"""ONNX export: onnx's checker accepts the file and onnxruntime reproduces nnfunc's outputs.

"Agree to float32 rounding" is checked two ways. The first is a bound that
holds whatever order a float32 runtime sums in: the graph's results may
differ from the exact ones (a float64 forward of the same params) by what
float32 arithmetic can add, which ``float32_bound`` computes layer by layer
(Higham's bound for a dot product, gamma_n = n u / (1 - n u), carried
through each activation's Lipschitz constant and the softmax). It is exact
for the matmuls, relu, leaky_relu and linear; for sigmoid, tanh and exp it
assumes onnxruntime's approximations are within 16 units of roundoff (an
assumption about its code, not a proof). onnxruntime's probabilities must
stay inside it, and so must nnfunc's own forward; the classes must be
identical wherever the exact top two are further apart than both
computations' errors (closer, the exact answer is a tie at float32 precision).

A worst-case bound grows with n u, so at MNIST's widths it allows far more
than float32 rounding ever does in practice. There the second check,
``assert_as_accurate_as_nnfunc``, holds onnxruntime to within a small factor
of nnfunc's own float32 error; a graph off by 1e-3 anywhere fails it.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.helpers import require_extra

require_extra("onnx", "onnx", "onnxruntime")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

import nnfunc as nf  # noqa: E402
from nnfunc.errors import ConfigError, ParamsError  # noqa: E402

U = 2.0 ** -24  # float32's unit roundoff
TINY = 2.0 ** -126  # float32's smallest normal number (a runtime may flush smaller ones to 0)
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "linear")
LIPSCHITZ = {"relu": 1.0, "leaky_relu": 1.0, "sigmoid": 0.25, "tanh": 1.0, "linear": 1.0}


def gamma(n):
    return n * U / (1 - n * U)


def exact_activation(name, z):
    return {"relu": lambda: np.maximum(z, 0), "leaky_relu": lambda: np.where(z > 0, z, 0.01 * z),
            "sigmoid": lambda: 0.5 + 0.5 * np.tanh(0.5 * z), "tanh": lambda: np.tanh(z), "linear": lambda: z}[name]()


def rounding(name, a):
    """What computing the activation in float32 may add: exact for relu, an ulp-sized error otherwise.

    sigmoid and tanh are polynomial approximations in onnxruntime: 16 units of
    roundoff, absolute, is generous for them and tight enough to mean something.
    """
    return {"relu": 0 * a, "linear": 0 * a, "leaky_relu": 2 * U * np.abs(a),
            "sigmoid": 16 * U * (np.abs(a) + 1), "tanh": 16 * U * (np.abs(a) + 1)}[name]


def float32_bound(params, x, names):
    """(exact probs, exact logits, logit error per row, prob error) of the network in float64.

    The errors bound any float32 evaluation of the same network whose weights
    are the params rounded to float32 (hence n + 2 terms per dot product:
    the weight and the bias may each be rounded once more), numbers below
    float32's normal range flushed to zero or not.
    """
    L = len(params) // 2
    h, e = np.asarray(x, np.float64), np.zeros(np.shape(x))
    for l in range(1, L + 1):
        W, b = params[f"W{l}"].astype(np.float64), params[f"b{l}"].astype(np.float64)
        z = h @ W + b
        n = W.shape[0] + 2
        # relative rounding, and underflow: each of the n products and n sums may lose float32's smallest normal
        e = e @ np.abs(W) + gamma(n) * ((np.abs(h) + e) @ np.abs(W) + np.abs(b)) + 2 * n * TINY
        if l < L:
            name = names[l - 1]
            h = exact_activation(name, z)
            e = LIPSCHITZ[name] * e + rounding(name, h)
        else:
            h = z
    logits, delta = h, e.max(axis=1, keepdims=True)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    # softmax: the logits' errors move each probability by a factor within exp(+-2 delta); z - max(z) is
    # rounded (u |z - max(z)| in the exponent, numerator and denominator), then k exps, a k-term sum, a divide
    k = logits.shape[1]
    spread = logits.max(axis=1, keepdims=True) - logits.min(axis=1, keepdims=True) + 2 * delta
    return probs, logits, delta[:, 0], probs * (np.expm1(2 * delta + 2 * U * spread) + (k + 16) * U) + 1e-37


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities", "label"], {"x": np.ascontiguousarray(x, dtype=np.float32)})


def assert_agrees(params, x, names, path):
    """onnxruntime's outputs against nnfunc.forward and the float32 bound; returns the largest prob difference."""
    x = np.asarray(x, np.float32)
    probs, label = run_onnx(path, x)
    assert probs.dtype == np.float32 and probs.shape == (x.shape[0], params[f"W{len(params) // 2}"].shape[1])
    assert label.dtype == np.int64 and label.shape == (x.shape[0],)
    exact, logits, delta, bound = float32_bound(params, x, names)
    ours, _ = nf.forward(params, x, activation=names)
    assert np.all(np.abs(probs - exact) <= bound), np.max(np.abs(probs - exact) / bound)
    # nnfunc's own forward meets it too (in float32 when the params are; float64 params run in float64)
    assert np.all(np.abs(ours - exact) <= bound)
    top2 = np.sort(logits, axis=1)[:, -2:] if logits.shape[1] > 1 else np.hstack([logits - np.inf, logits])
    clear = top2[:, 1] - top2[:, 0] > 2 * delta  # neither float32 forward can swap these two
    predicted = nf.predict(params, x, activation=names)
    assert np.array_equal(label[clear], predicted[clear])
    assert np.array_equal(label[clear], logits.argmax(axis=1)[clear])
    # read from the probabilities, a class is clear when their own errors cannot swap the top two
    order = np.argsort(exact, axis=1)
    rows = np.arange(len(x))
    if exact.shape[1] > 1:
        first, second = order[:, -1], order[:, -2]
        clear_p = exact[rows, first] - exact[rows, second] > bound[rows, first] + bound[rows, second]
        assert np.array_equal(probs.argmax(axis=1)[clear_p], predicted[clear_p])
    return float(np.max(np.abs(probs - ours))), int(clear.sum())


def assert_as_accurate_as_nnfunc(params, x, names, probs, factor=8):
    """onnxruntime's largest probability error is within ``factor`` times nnfunc's own float32 one.

    For networks wide enough that the worst case means little: both are
    float32 computations of the same sums in different orders, so their
    errors are of one size. The floor (a few units of roundoff) covers a
    forward that happens to be exact. Returns the two errors.
    """
    ours, _ = nf.forward({k: v.astype(np.float32) for k, v in params.items()}, np.asarray(x, np.float32),
                         activation=names)
    exact, _ = nf.forward({k: v.astype(np.float64) for k, v in params.items()}, np.asarray(x, np.float64),
                          activation=names)
    theirs, own = float(np.max(np.abs(probs - exact))), float(np.max(np.abs(ours - exact)))
    assert theirs <= factor * max(own, 4 * U), (theirs, own)
    return theirs, own


@st.composite
def networks(draw, activation=None):
    """(params, x, names): a random network of 0-3 hidden layers, scaled, in float32 or float64, and inputs."""
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=5))
    names = tuple(draw(st.sampled_from(ACTIVATIONS)) if activation is None else activation
                  for _ in range(len(sizes) - 2))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    params = nf.init(sizes, draw(st.integers(0, 2**32)), scheme=draw(st.sampled_from(["he", "xavier_uniform"])),
                     dtype=dtype)
    scale = draw(st.sampled_from([0.25, 1.0, 3.0]))
    params = {k: (v * scale if k.startswith("W") else v + draw(st.floats(-1, 1))).astype(dtype)
              for k, v in params.items()}
    x = draw(arrays(np.float32, (draw(st.integers(1, 16)), sizes[0]),
                    elements=st.floats(-8, 8, width=32, allow_subnormal=False)))
    return params, x, names


@pytest.mark.parametrize("activation", [*ACTIVATIONS, None], ids=[*ACTIVATIONS, "mixed"])
@given(data=st.data())
def test_onnxruntime_reproduces_forward_on_random_networks(activation, data, tmp_path_factory):
    params, x, names = data.draw(networks(activation))
    path = nf.export_onnx(params, tmp_path_factory.mktemp("onnx") / "net.onnx", activation=names)
    assert_agrees(params, x, names, path)


def test_the_bound_catches_a_wrong_activation(tmp_path):
    params = nf.init((20, 16, 10), 3)
    x = np.random.default_rng(0).random((64, 20), dtype=np.float32)
    path = nf.export_onnx(params, tmp_path / "wrong.onnx", activation="tanh")
    with pytest.raises(AssertionError):
        assert_agrees(params, x, ("sigmoid",), path)


@pytest.mark.parametrize("names", [("relu", "relu"), ("sigmoid", "tanh")])
def test_at_mnist_size_a_graph_off_by_1e_3_fails_and_the_export_passes(tmp_path, names):
    """784-25-25-10 on 2,000 pixel-like rows: rounding passes, a small real change to one bias does not."""
    params = nf.init((784, 25, 25, 10), 7)
    x = np.random.default_rng(1).random((2000, 784), dtype=np.float32) * (np.random.default_rng(2).random(784) < 0.2)
    path = nf.export_onnx(params, tmp_path / "net.onnx", activation=names)
    assert_agrees(params, x, names, path)
    theirs, own = assert_as_accurate_as_nnfunc(params, x, names, run_onnx(path, x)[0])
    assert theirs < 1e-5  # float32 rounding, not the worst case
    off = {**params, "b2": params["b2"] + np.float32(1e-3) * (np.arange(25) == 3)}
    probs, _ = run_onnx(nf.export_onnx(off, tmp_path / "off.onnx", activation=names), x)
    with pytest.raises(AssertionError):
        assert_as_accurate_as_nnfunc(params, x, names, probs)


def test_the_file_is_a_checked_onnx_model_with_its_metadata(tmp_path):
    params = nf.init((784, 32, 16, 10), 0, dtype=np.float64)
    path = nf.export_onnx(params, tmp_path / "sub" / "net.onnx", activation=("relu", "tanh"),
                          classes=np.array([f"c{i}" for i in range(10)]))
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [o.domain or "" for o in model.opset_import] == [""] and model.opset_import[0].version == 17
    (inp,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "x" and dims == ["batch", 784] and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [o.name for o in model.graph.output] == ["probabilities", "label"]
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert meta == {"activation": ["relu", "tanh"], "output": "softmax", "sizes": [784, 32, 16, 10],
                    "classes": [f"c{i}" for i in range(10)]}
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert set(weights) == set(params)
    for k, v in params.items():
        assert weights[k].dtype == np.float32 and np.array_equal(weights[k], v.astype(np.float32))
    assert [t.name for t in tmp_path.joinpath("sub").iterdir()] == ["net.onnx"]  # no temp file left


@pytest.mark.parametrize("bad, error, words", [
    (dict(activation="swish"), ConfigError, "swish"),
    (dict(activation=("relu", "relu", "relu")), ConfigError, "3"),
    (dict(params="nan"), ParamsError, "NaN"),
    (dict(params="huge"), ParamsError, "float32"),
    (dict(params="missing"), ParamsError, "b2"),
    (dict(classes=["a", "b"]), ConfigError, "10 names"),
    (dict(classes=np.arange(10).reshape(2, 5)), ConfigError, "10 names"),
    (dict(path=None), ConfigError, "path"),
])
def test_bad_exports_name_the_problem_and_write_nothing(tmp_path, bad, error, words):
    params = nf.init((6, 5, 10), 0, dtype=np.float64)
    target = tmp_path / "net.onnx"
    target.write_bytes(b"the previous export")
    if bad.get("params") == "nan":
        params["W2"][1, 1] = np.nan
    elif bad.get("params") == "huge":
        params["W1"][0, 0] = 1e39
    elif bad.get("params") == "missing":
        del params["b2"]
    kwargs = dict(activation=bad.get("activation", "relu"), classes=bad.get("classes"))
    with pytest.raises(error, match=words):
        nf.export_onnx(params, bad.get("path", target), **kwargs)
    assert target.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]


def test_without_onnx_the_error_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['onnx'] = None\nimport nnfunc as nf\n"
            f"nf.export_onnx(nf.init((4, 3), 0), {str(tmp_path / 'x.onnx')!r}, activation='relu')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ModuleNotFoundError: export_onnx needs onnx")
    assert 'pip install "nnfunc[onnx]"' in result.stderr
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_an_exported_default_run_predicts_the_10000_test_digits_as_nnfunc_does(cli):
    """``python -m nnfunc.train`` with its defaults, ``nnfunc export``, onnxruntime on the real test set."""
    run = cli.home / "default-run"
    trained = subprocess.run([sys.executable, "-m", "nnfunc.train", "--out", str(run), "--no-plots", "--quiet",
                              "--data-dir", str(cli.mnist)], capture_output=True, text=True, env=cli.env,
                             cwd=cli.home, timeout=600)
    assert trained.returncode == 0, trained.stderr
    exported = cli.run("export", run, data=False)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"wrote {run / 'model.onnx'} (sizes 784-25-25-10, activation relu")
    model = nf.load(run)
    test = nf.load_dataset("mnist", data_dir=cli.mnist, dtype=np.float32)
    assert test.x_test.shape == (10_000, 784)
    largest, clear = assert_agrees(model.params, test.x_test, ("relu", "relu"), run / "model.onnx")
    probs, label = run_onnx(run / "model.onnx", test.x_test)
    theirs, own = assert_as_accurate_as_nnfunc(model.params, test.x_test, ("relu", "relu"), probs)
    assert np.array_equal(label, nf.predict(model.params, test.x_test, activation="relu"))  # all 10,000
    accuracy = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    assert np.mean(label == test.y_test) == accuracy
    print(f"largest probability difference {largest:.3g}; {clear} of 10000 rows clear of float32 ties; "
          f"largest error from the exact forward: onnxruntime {theirs:.3g}, nnfunc float32 {own:.3g}")


def test_export_command_errors_are_clean(cli, tmp_path):
    missing = cli.run("export", tmp_path / "no-such-run", data=False)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    model = tmp_path / "digits.npz"
    nf.save(model, nf.init((784, 10), 0), activation="relu", dataset="mnist")
    written = cli.run("export", model, data=False)
    assert written.returncode == 0, written.stderr
    probs, _ = run_onnx(tmp_path / "digits.onnx", np.zeros((1, 784), np.float32))
    assert probs.shape == (1, 10)


@pytest.mark.parametrize("output", ["logistic", "identity", "exp"])
def test_every_output_layer_runs_in_onnxruntime_as_nnfunc_predicts(tmp_path, output):
    rng = np.random.default_rng(1)
    params = nf.init((20, 16, 4), rng, dtype=np.float32)
    x = rng.normal(size=(64, 20)).astype(np.float32)
    path = nf.export_onnx(params, tmp_path / "net.onnx", activation="tanh", output=output)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))
    outs, cache = nf.forward(params, x, activation="tanh", output=output)
    if output == "logistic":
        assert list(got) == ["probabilities", "label"] and got["label"].dtype == np.int64
        np.testing.assert_allclose(got["probabilities"], outs, rtol=1e-5, atol=1e-6)
        clear = np.abs(cache["logits"]) > 1e-4  # where float32 rounding cannot move a logit across 0
        want = nf.predict(params, x, activation="tanh", output=output)
        assert clear.mean() > 0.9 and np.array_equal(got["label"][clear], want[clear])
    else:
        assert list(got) == ["predictions"]
        np.testing.assert_allclose(got["predictions"], outs, rtol=1e-5, atol=1e-6)
    meta = {p.key: json.loads(p.value) for p in onnx.load(path).metadata_props}
    assert meta["output"] == output
