"""No subnormal floats in what nnfunc keeps: the flush rule, the kernels that apply it, files old and new.

The oracle here shares nothing with ``nnfunc.subnormals``: a value is
subnormal when it is non-zero and below ``np.finfo(dtype).tiny`` in
magnitude, and flushing it gives ``np.copysign(0, value)``.
"""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import kernels, losses
from nnfunc.subnormals import count, flush, scaled, squared_scaled
from nnfunc.training import checkpoint
from nnfunc.training import loop as fit
from tests.helpers import assert_bit_identical
from tests.strategies import architectures
from tests.test_optimizers import all_optimizers, run as run_pure

DTYPES = [np.float32, np.float64]
INTS = {np.float32: np.uint32, np.float64: np.uint64}
needs_numba = pytest.mark.skipif(not kernels.installed(), reason="numba not installed: pip install -e '.[fast]'")


def subnormal(a):
    a = np.asarray(a)
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


def subnormals_in(tree):
    """{name: how many} for every array of a dict (or NamedTuple of dicts) holding a subnormal."""
    found = {}
    items = tree.items() if isinstance(tree, dict) else [(f, v) for f, v in zip(tree._fields, tree)]
    for name, value in items:
        if isinstance(value, dict):
            found.update({f"{name}/{k}": n for k, n in subnormals_in(value).items()})
        elif np.asarray(value).dtype.kind == "f" and subnormal(value).any():
            found[name] = int(subnormal(value).sum())
    return found


def from_bits(bits, dtype):
    return np.asarray(bits, dtype=INTS[dtype]).view(dtype)


@st.composite
def bit_patterns(draw):
    """(dtype, array): any bits at all, with subnormals, zeros, inf and NaN sure to be among them."""
    dtype = draw(st.sampled_from(DTYPES))
    top = np.iinfo(INTS[dtype]).max
    mantissa = np.finfo(dtype).nmant
    # zero, the least and the greatest subnormal, tiny and the next number up
    edges = [0, 1, (1 << mantissa) - 1, 1 << mantissa, (1 << mantissa) + 1]
    edges += [e | (1 << (np.finfo(dtype).bits - 1)) for e in edges]  # the same, negative
    bits = draw(st.lists(st.integers(0, int(top)) | st.sampled_from(edges), min_size=1, max_size=64))
    specials = np.array([np.inf, -np.inf, np.nan], dtype)
    return dtype, np.concatenate([from_bits(bits, dtype), specials])


@given(bit_patterns())
def test_the_flush_zeroes_subnormals_and_leaves_every_other_bit_pattern(case):
    dtype, a = case
    want = np.where(subnormal(a), np.copysign(dtype(0), a), a)
    got = flush(a.copy())
    assert got.tobytes() == want.tobytes()
    assert count(a) == int(subnormal(a).sum()) and count(got) == 0


@needs_numba
@given(bit_patterns())
def test_the_compiled_flush_gives_the_same_bits(case):
    from nnfunc.kernels._numba import TINY, flushed

    dtype, a = case
    a[np.isnan(a)] = np.nan  # one value at a time goes through a Python float, which quiets a signalling NaN
    got = np.array([flushed(v, TINY[np.dtype(dtype)]) for v in a], dtype)
    assert got.tobytes() == flush(a.copy()).tobytes()


@st.composite
def products(draw):
    """(x, c): an array from 100x below to 100x above the operand floor tiny / |c|, and a constant c."""
    dtype = draw(st.sampled_from(DTYPES))
    c = draw(st.sampled_from([0.9, 0.1, 1e-3, 3e-4, -3e-3, 0.999, 1.0, 0.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    floor = np.finfo(dtype).tiny / max(abs(c), 1e-30)
    x = floor * 10.0 ** rng.uniform(-2, 2, 200) * rng.choice([-1.0, 1.0], 200)
    x = np.concatenate([np.minimum(x, np.finfo(dtype).max), [0.0, -0.0, np.inf, np.nan]]).astype(dtype)
    return x, c


def plain(x, c):
    return x * x.dtype.type(c)


@given(products())
def test_scaled_is_the_plain_product_unless_that_would_be_subnormal(case):
    x, c = case
    with np.errstate(invalid="ignore"):  # inf * 0, in both
        got, want = scaled(x, c), plain(x, c)
        x2 = np.sqrt(np.abs(x))
        got2, want2 = squared_scaled(x2, c), plain(x2 * x2, c)
    tiny = np.finfo(x.dtype).tiny
    big = ~(np.abs(want) < 2 * tiny)  # NaN and inf count as big
    assert got[big].tobytes() == want[big].tobytes()
    assert (np.abs(got[~big]) < 2 * tiny).all() and not subnormal(got[np.abs(want) < tiny / 2]).any()
    big2 = ~(np.abs(want2) < 4 * tiny)
    assert got2[big2].tobytes() == want2[big2].tobytes() and (np.abs(got2[~big2]) < 4 * tiny).all()


@needs_numba
@given(products())
def test_the_compiled_scaled_products_give_the_same_bits(case):
    from nnfunc.kernels._numba import TINY, scaled as compiled_scaled, squared_scaled as compiled_squared

    x, c = case
    f, tiny = x.dtype.type, TINY[x.dtype]
    x[np.isnan(x)] = np.nan  # as above: a signalling NaN would come back quiet
    with np.errstate(invalid="ignore"):
        one_by_one = np.array([compiled_scaled(v, f(c), tiny) for v in x], x.dtype)
        assert one_by_one.tobytes() == scaled(x, c).tobytes()
        one_by_one = np.array([compiled_squared(v, f(c), tiny) for v in x], x.dtype)
        assert one_by_one.tobytes() == squared_scaled(x, c).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_l2_term_of_tiny_weights_makes_no_subnormal(dtype):
    # input 0 never reaches W1's first row, so its gradient is the L2 term alone, as for a pixel that is always 0
    rng = np.random.default_rng(0)
    params = nf.init((3, 4, 2), rng, dtype=dtype)
    tiny = np.finfo(dtype).tiny
    params["W1"][0] = tiny * np.array([1.5, 30.0, 3e3, -3e4])  # l2 * W: subnormal, subnormal, normal, normal
    x = rng.random((5, 3)).astype(dtype)
    x[:, 0] = 0
    y = np.array([0, 1, 1, 0, 1])
    grads = []
    for backend in kernels.BACKENDS if kernels.installed() else ("numpy",):
        with kernels.use(backend):
            grads.append(nf.value_and_grad(params, x, y, l2=1e-3)[1])
    for g in grads:  # softmax's last bit may differ between backends (tests/test_kernels.py), the L2 row not
        assert g["W1"][0].tobytes() == grads[0]["W1"][0].tobytes()
        assert subnormals_in(g) == {}
        assert g["W1"][0, :2].tobytes() == np.zeros(2, dtype).tobytes()
        assert g["W1"][0, 2:].tolist() == plain(params["W1"][0, 2:], 1e-3).tolist()


@st.composite
def near_tiny_problems(draw):
    """(params, grads for 3 steps, lr): values from 100x below to 100x above the smallest normal number.

    Updates then land in and out of the subnormal range, and so do the
    optimizers' moments (about (1 - b) * g and g**2).
    """
    dtype = draw(st.sampled_from(DTYPES))
    sizes, _ = draw(architectures(max_layers=2, max_width=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tiny = np.finfo(dtype).tiny

    def tree():
        out = {}
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            for key, shape in ((f"W{l}", (n_in, n_out)), (f"b{l}", (n_out,))):
                magnitude = tiny * 10.0 ** rng.uniform(-2, 2, shape)
                out[key] = (magnitude * rng.choice([-1.0, 1.0], shape)).astype(dtype)
        return out

    lr = draw(st.sampled_from([1.0, 0.5, 1e-3]))
    return tree(), [tree() for _ in range(3)], lr


def run_in_place(opt, params, grads_list):
    params = {k: v.copy() for k, v in params.items()}
    state, scratch = opt.init(params), {k: np.empty_like(v) for k, v in params.items()}
    for grads in grads_list:
        params, state = opt.update_in_place(grads, state, params, scratch)
    return params, state


@given(near_tiny_problems())
def test_no_optimizer_keeps_a_subnormal(problem):
    params, grads_list, lr = problem
    for opt in all_optimizers(lr):
        for run in (run_pure, run_in_place):
            new_params, state = run(opt, params, grads_list)
            assert subnormals_in(new_params) == {} and subnormals_in(state) == {}, opt.name


@needs_numba
@given(near_tiny_problems())
def test_both_kernel_backends_flush_alike(problem):
    params, grads_list, lr = problem
    for opt in all_optimizers(lr):
        for run in (run_pure, run_in_place):
            with kernels.use("numpy"):
                want = run(opt, params, grads_list)
            with kernels.use("numba"):
                got = run(opt, params, grads_list)
            assert_bit_identical(want[0], got[0])
            for a, b in zip(want[1], got[1]):
                assert_bit_identical(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_update_that_lands_below_tiny_lands_on_zero(dtype):
    tiny = np.finfo(dtype).tiny
    params = {"W1": np.array([[3 * tiny, -3 * tiny, 1.0]], dtype), "b1": np.array([2 * tiny, 0, -0.0], dtype)}
    grads = {"W1": np.array([[2.5 * tiny, -2.5 * tiny, 0.5]], dtype), "b1": np.array([1.5 * tiny, 0, 0], dtype)}
    for backend in kernels.BACKENDS if kernels.installed() else ("numpy",):
        with kernels.use(backend):
            stepped = nf.update(params, grads, lr=1.0)
            applied = nf.apply_updates(params, {k: -g for k, g in grads.items()})
        for new in (stepped, applied):
            assert new["W1"].tobytes() == np.array([[0.0, -0.0, 0.5]], dtype).tobytes(), backend
            assert new["b1"].tobytes() == np.array([0.0, 0.0, -0.0], dtype).tobytes(), backend


def test_zero_dimensional_params_keep_their_old_results_and_mixed_dtypes_are_refused():
    tiny = np.finfo(np.float32).tiny
    with kernels.use("numpy"):  # 0-d sums are NumPy scalars, which the reference must turn back into arrays
        new = nf.apply_updates({"s": np.array(2 * tiny, np.float32)}, {"s": np.array(-1.5 * tiny, np.float32)})
    assert isinstance(new["s"], np.ndarray) and new["s"].tobytes() == np.float32(0).tobytes()
    params = nf.init((3, 2), 0)  # float32
    grads = {k: np.full(v.shape, 1e-3) for k, v in params.items()}  # float64: once a silent float64 step
    with pytest.raises(nf.ParamsError, match=r"grads\['W1'\] is float64 but params\['W1'\] is float32"):
        nf.update(params, grads, lr=0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_logits_gradient_holds_no_subnormal(dtype):
    # exp(-86) / 4 is subnormal in float32 and exp(-708) / 4 in float64; -720 underflows to 0 in both
    row = [0.0, -1.0, -5.0, -86.0, -90.0, -100.0, -200.0, -708.0, -710.0, -720.0]
    logits = np.array([row, row[::-1], row[1:] + row[:1], row], dtype)
    y = np.array([0, 0, 1, 9])
    with kernels.use("numpy"):  # one set of probabilities for both: softmax's last bit may differ between backends
        _, probs = losses.softmax_cross_entropy(logits, y)
    assert subnormal(probs * dtype(0.25)).any()  # the unflushed gradient would hold some
    results = []
    for backend in kernels.BACKENDS if kernels.installed() else ("numpy",):
        with kernels.use(backend):
            dZ = losses.softmax_cross_entropy_grad(probs, y)
        assert not subnormal(dZ).any()
        results.append(dZ)
    assert all(r.tobytes() == results[0].tobytes() for r in results)


# ---------------------------------------------------------------- files


def with_subnormals(path, names):
    """Rewrite the npz at ``path`` with some entries of each named array made subnormal, as runs before 0.4 were.

    Returns the arrays written ({name: array}).
    """
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for name in names:
        a = arrays[name].copy()
        flat = a.reshape(-1)
        signs = 1.0 if "/nu/" in name else np.linspace(-1, 1, flat[::3].size)  # nu, a mean of squares, is >= 0
        flat[::3] = np.finfo(a.dtype).tiny * 0.9 * signs
        arrays[name] = a
    np.savez(path, **arrays)
    return arrays


def flushed_oracle(a):
    return np.where(subnormal(a), np.copysign(a.dtype.type(0), a), a)


def small_run(tmp_path):
    sizes = (12, 8, 3)
    opt = nf.adam(1e-2)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(90, sizes[0]), dtype=np.uint8)
    data = fit.TrainData(x[:60], x[:60, :3].argmax(axis=1), x[60:], x[60:, :3].argmax(axis=1))
    config = fit.FitConfig(epochs=1, batch_size=16)
    state = fit.fit(fit.start_fit(nf.init(sizes, 0), opt, 0), opt, data, config)
    path = tmp_path / "model.npz"
    checkpoint.save(path, state, {"hidden": "8", "optimizer": "adam", "activation": "relu"}, "mnist")
    return path, opt, data, config


def test_a_run_written_with_subnormals_loads_flushed_and_resumes(tmp_path):
    path, opt, data, config = small_run(tmp_path)
    stored = with_subnormals(path, ["params/W1", "best/W1", "opt/mu/W1", "opt/nu/b1"])
    assert subnormal(stored["params/W1"]).any() and subnormal(stored["opt/nu/b1"]).any()

    model = nf.load(path)
    assert model.params["W1"].tobytes() == flushed_oracle(stored["best/W1"]).tobytes()
    state, _ = checkpoint.load_state(path, opt)
    assert state.params["W1"].tobytes() == flushed_oracle(stored["params/W1"]).tobytes()
    assert state.opt_state.mu["W1"].tobytes() == flushed_oracle(stored["opt/mu/W1"]).tobytes()
    assert subnormals_in(state.params) == {} and subnormals_in(state.opt_state) == {}
    resumed = fit.fit(state, opt, data, config._replace(epochs=2))
    assert resumed.epoch == 2 and subnormals_in(resumed.params) == {} and subnormals_in(resumed.opt_state) == {}


def test_files_are_written_without_subnormals(tmp_path):
    path, opt, _, _ = small_run(tmp_path)
    state, _ = checkpoint.load_state(path, opt)
    tiny = np.finfo(np.float32).tiny
    params = {k: v.copy() for k, v in state.params.items()}
    params["W1"][0, :3] = [tiny / 2, -tiny / 3, 0.5]
    mu = {k: v.copy() for k, v in state.opt_state.mu.items()}
    mu["b1"][:2] = [tiny / 4, -tiny / 5]
    before = params["W1"].copy()
    given_state = state._replace(params=params, opt_state=state.opt_state._replace(mu=mu))

    checkpoint.save(tmp_path / "again.npz", given_state, {"activation": "relu"}, "mnist")
    nf.save(tmp_path / "model-file.npz", params, activation="relu")
    assert params["W1"].tobytes() == before.tobytes()  # the caller's arrays are not touched
    for written in ("again.npz", "model-file.npz"):
        with np.load(tmp_path / written, allow_pickle=False) as npz:
            found = {k: int(subnormal(npz[k]).sum()) for k in npz.files if npz[k].dtype.kind == "f"}
            assert set(found.values()) == {0}, (written, found)
            assert npz["params/W1"][0, :3].tobytes() == np.array([0.0, -0.0, 0.5], np.float32).tobytes()


# ---------------------------------------------------------------- the default run, on real MNIST


def raw_subnormals(run_dir):
    """{entry: count} of model.npz's float arrays that hold subnormals, read with NumPy alone."""
    with np.load(run_dir / "model.npz", allow_pickle=False) as npz:
        return {k: int(subnormal(npz[k]).sum()) for k in npz.files
                if npz[k].dtype.kind == "f" and subnormal(npz[k]).any()}


@pytest.mark.slow
def test_the_default_network_trains_without_subnormals(mnist_path):
    # before the flush, three epochs of the default run left about 4,200 subnormal weights in W1 and as many in
    # Adam's mu (7,020 after all 30); this trains them in memory, where no file's flush can hide them
    from nnfunc.training.runs import build
    from nnfunc.training.settings import DEFAULTS
    from nnfunc.training.seeds import run_seeds

    config = {**DEFAULTS, "lr": 3e-3, "decay_epochs": DEFAULTS["epochs"]}
    ds = nf.load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8, progress=False)
    x, y, x_val, y_val = nf.split_validation(ds.x_train, ds.y_train, config["val_size"],
                                             np.random.default_rng(run_seeds(config["seed"]).split))
    data = fit.TrainData(x, y, x_val, y_val)
    _, params, opt = build(config, 784, 10, -(-len(y) // config["batch_size"]))
    state = fit.fit(fit.start_fit(params, opt, config["seed"]), opt, data,
                    fit.FitConfig(epochs=3, batch_size=config["batch_size"], l2=config["l2"]))
    assert subnormals_in(state.params) == {} and subnormals_in(state.opt_state) == {}
    assert subnormals_in(state.best_params) == {}


@pytest.mark.slow
def test_the_default_run_writes_no_subnormal(cli):
    run_dir = cli.home / "default-3"
    result = cli.run("train", "--epochs", "3", "--no-plots", "--out", run_dir)
    assert result.returncode == 0, result.stderr
    assert raw_subnormals(run_dir) == {}


@pytest.mark.slow
def test_a_run_from_before_the_flush_evaluates_and_resumes(cli):
    run_dir = cli.home / "old-run"
    result = cli.run("train", "--epochs", "1", "--decay-epochs", "2", "--no-plots", "--train-size", "2000",
                     "--val-size", "500", "--out", run_dir)
    assert result.returncode == 0, result.stderr
    with_subnormals(run_dir / "model.npz", ["params/W1", "best/W1", "opt/mu/W1", "opt/nu/W2"])
    assert raw_subnormals(run_dir)
    evaluated = cli.run("evaluate", run_dir)
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout, evaluated.stderr
    resumed = cli.run("train", "--resume", run_dir, "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert raw_subnormals(run_dir) == {}
    with np.load(run_dir / "model.npz", allow_pickle=False) as npz:
        assert json.loads(str(npz["meta"]))["epoch"] == 2
