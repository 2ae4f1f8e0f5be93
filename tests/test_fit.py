"""The training core ``nnfunc.training.loop``: determinism, resumability, purity, learning, early stopping.

Every test trains a small network on a synthetic problem (20 uint8
features, labels from a random linear teacher), so the file runs in a few
seconds.
"""

import math

import numpy as np
import pytest

import nnfunc as nf
from nnfunc import activations
from nnfunc.optim import optimizers, schedules
from nnfunc.losses import l2_penalty
from nnfunc.training import _step
from nnfunc.training import loop as fit
from nnfunc.evaluation import evaluate
from nnfunc.data.load import _to_dataset
from tests.helpers import assert_bit_identical, copy_tree, correctly_rounded_pixels

N_FEATURES, N_CLASSES, HIDDEN = 20, 4, 16
RECORD_KEYS = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}


def teacher_data(m=600, val_size=100, seed=0):
    """TrainData of m uint8 examples labelled by argmax of a random linear map of x / 255."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(m, N_FEATURES), dtype=np.uint8)
    W = rng.normal(size=(N_FEATURES, N_CLASSES))
    y = ((x / 255.0 - 0.5) @ W).argmax(axis=1).astype(np.int64)
    cut = m - val_size
    return fit.TrainData(x[:cut], y[:cut], x[cut:], y[cut:])


def make_run(optimizer="adam", lr=None, *, schedule="cosine", total_steps=80, dtype=np.float32, seed=0):
    """(state, opt, schedule) for a 20-16-4 network whose schedule has a fixed horizon."""
    lr = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1}.get(optimizer, 1e-2) if lr is None else lr
    sched = schedules.get(schedule, lr, total_steps=total_steps)
    opt = optimizers.get(optimizer, sched)
    params = nf.init((N_FEATURES, HIDDEN, N_CLASSES), seed, dtype=dtype)
    return fit.start_fit(params, opt, seed), opt, sched


def strip_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def assert_same_state(a, b):
    """Two FitStates equal bit for bit, history compared without its timings."""
    assert_bit_identical(a.params, b.params)
    assert type(a.opt_state) is type(b.opt_state)
    for x, y in zip(a.opt_state, b.opt_state):
        assert_bit_identical(x, y)
    assert (a.epoch, a.step, a.bad_epochs) == (b.epoch, b.step, b.bad_epochs)
    assert a.rng_states == b.rng_states
    assert (a.best_params is None) == (b.best_params is None)
    if a.best_params is not None:
        assert_bit_identical(a.best_params, b.best_params)
    assert a.best_val_loss == b.best_val_loss
    assert strip_seconds(a.history) == strip_seconds(b.history)


CONFIG = fit.FitConfig(epochs=4, batch_size=64, activation="relu", l2=1e-3, dropout=0.2, patience=3)


def test_fit_is_deterministic():
    data = teacher_data()
    runs = []
    for _ in range(2):
        state, opt, sched = make_run()
        runs.append(fit.fit(state, opt, data, CONFIG))
    assert runs[0].epoch == 4
    assert_same_state(*runs)


def test_different_seed_gives_different_run():
    # guards the determinism test against a fit that ignores its randomness
    data = teacher_data()
    a = fit.fit(*make_run(seed=0)[:2], data, CONFIG)
    b = fit.fit(*make_run(seed=1)[:2], data, CONFIG)
    assert not np.array_equal(a.params["W1"], b.params["W1"])


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "momentum"])
def test_two_epochs_then_four_equals_four(optimizer):
    data = teacher_data()
    state, opt, sched = make_run(optimizer)
    direct = fit.fit(state, opt, data, CONFIG)
    half = fit.fit(state, opt, data, CONFIG._replace(epochs=2))
    assert half.epoch == 2 and len(half.history) == 2
    resumed = fit.fit(half, opt, data, CONFIG)
    assert direct.epoch == resumed.epoch == 4
    # the schedule is not constant, so a wrong step count on resume would show
    assert direct.history[0]["lr"] != direct.history[-1]["lr"]
    assert_same_state(direct, resumed)


def test_fit_past_its_epochs_is_a_no_op():
    data = teacher_data()
    state, opt, sched = make_run()
    done = fit.fit(state, opt, data, CONFIG._replace(epochs=2))
    again = fit.fit(done, opt, data, CONFIG._replace(epochs=1))
    assert again is done


def test_on_epoch_sees_every_epoch_in_order():
    data = teacher_data()
    state, opt, sched = make_run()
    seen = []
    final = fit.fit(state, opt, data, CONFIG, on_epoch=lambda s: seen.append(s))
    assert [s.epoch for s in seen] == [1, 2, 3, 4]
    assert [len(s.history) for s in seen] == [1, 2, 3, 4]
    assert_same_state(seen[-1], final)


def test_states_handed_out_stay_unchanged():
    # each epoch's state (for a checkpoint) must be a snapshot, not a view of arrays the loop keeps updating
    data = teacher_data()
    state, opt, sched = make_run("adam")
    seen, copies = [], []

    def keep(s):
        seen.append(s)
        copies.append(copy_tree([s.params, list(s.opt_state), s.best_params]))

    fit.fit(state, opt, data, CONFIG, on_epoch=keep)
    for s, (params, opt_state, best) in zip(seen, copies):
        assert_bit_identical(s.params, params)
        for x, y in zip(s.opt_state, opt_state):
            assert_bit_identical(x, y)
        assert_bit_identical(s.best_params, best)
    assert not np.array_equal(seen[0].params["W1"], seen[-1].params["W1"])


def test_fit_never_mutates_its_inputs():
    data = teacher_data()
    float_data = data._replace(x_train=data.x_train / np.float32(255), x_val=data.x_val / np.float32(255))
    for d in (data, float_data):
        state, opt, sched = make_run("adam")
        trained = fit.fit(state, opt, d, CONFIG._replace(epochs=1))
        # copies in plain lists: copy_tree cannot rebuild NamedTuples
        params, opt_state, best = copy_tree([trained.params, list(trained.opt_state), trained.best_params])
        rng_states, history = copy_tree([trained.rng_states, list(trained.history)])
        before_data = copy_tree(list(d))
        fit.fit(trained, opt, d, CONFIG._replace(epochs=3))
        assert_bit_identical(trained.params, params)
        for x, y in zip(trained.opt_state, opt_state):
            assert_bit_identical(x, y)
        assert_bit_identical(trained.best_params, best)
        assert trained.rng_states == rng_states
        assert list(trained.history) == history
        for x, y in zip(d, before_data):
            assert_bit_identical(x, y)


@pytest.mark.parametrize("optimizer, lr", [("adam", 3e-2), ("sgd", 0.5)])
def test_training_learns_the_teacher(optimizer, lr):
    data = teacher_data()
    config = fit.FitConfig(epochs=20, batch_size=32, activation="relu")
    state, opt, sched = make_run(optimizer, lr, total_steps=config.epochs * 16)
    history = fit.fit(state, opt, data, config).history
    first, last = history[0], history[-1]
    assert last["train_loss"] < 0.5 * first["train_loss"]
    assert last["val_loss"] < first["val_loss"]
    assert last["train_accuracy"] > first["train_accuracy"]
    assert last["val_accuracy"] >= 0.8  # chance is about 1/4


def test_early_stopping_keeps_the_best_params():
    data = teacher_data()
    # validation labels shifted by one class: learning the teacher makes them
    # ever less likely, so the validation loss soon stops improving
    data = data._replace(y_val=(data.y_val + 1) % N_CLASSES)
    state, opt, sched = make_run("adam", schedule="constant")
    config = fit.FitConfig(epochs=50, batch_size=32, activation="relu", l2=1e-3, patience=3)
    final = fit.fit(state, opt, data, config)
    val_losses = [r["val_loss"] for r in final.history]
    best_epoch = int(np.argmin(val_losses)) + 1
    assert fit.stopped_early(final, config)
    assert final.epoch < config.epochs
    assert final.epoch == best_epoch + config.patience
    assert final.bad_epochs == config.patience
    assert final.best_val_loss == min(val_losses)
    best = fit.final_params(final)
    assert best is final.best_params and best is not final.params
    assert evaluate(best, data.x_val, data.y_val, activation="relu", l2=config.l2).loss == min(val_losses)
    assert evaluate(final.params, data.x_val, data.y_val, activation="relu", l2=config.l2).loss > min(val_losses)
    # a stopped run stays stopped when asked for more epochs
    assert fit.fit(final, opt, data, config._replace(epochs=60)) is final


def test_no_validation_set_means_no_val_metrics_and_no_early_stop():
    data = teacher_data(val_size=0)
    assert data.x_val.shape == (0, N_FEATURES)
    state, opt, sched = make_run()
    final = fit.fit(state, opt, data, CONFIG._replace(patience=1))
    assert final.epoch == CONFIG.epochs
    for record in final.history:
        assert set(record) == RECORD_KEYS
        assert record["val_loss"] is None and record["val_accuracy"] is None
    assert final.best_params is None and final.best_val_loss == math.inf
    assert fit.final_params(final) is final.params


def test_history_records():
    data = teacher_data()
    state, opt, sched = make_run()
    final = fit.fit(state, opt, data, CONFIG)
    steps_per_epoch = math.ceil(data.x_train.shape[0] / CONFIG.batch_size)
    assert final.step == CONFIG.epochs * steps_per_epoch
    for i, record in enumerate(final.history, start=1):
        assert set(record) == RECORD_KEYS
        assert record["epoch"] == i
        assert record["lr"] == sched(i * steps_per_epoch - 1)
        for key in ("train_accuracy", "val_accuracy"):
            assert 0 <= record[key] <= 1
        for key in ("train_loss", "val_loss", "seconds"):
            assert isinstance(record[key], float) and math.isfinite(record[key]) and record[key] >= 0
    # a plain number is a constant schedule: the optimizer's rate is reported as is
    constant_opt = optimizers.get("adam", 0.01)
    constant = fit.fit(fit.start_fit(state.params, constant_opt, 0), constant_opt, data, CONFIG._replace(epochs=1))
    assert constant.history[0]["lr"] == 0.01


def test_divergence_raises_with_a_fix():
    data = teacher_data()
    state, opt, sched = make_run("sgd", lr=1e6, schedule="constant")
    called = []
    fix = r"lower the learning rate"
    with np.errstate(all="ignore"), pytest.raises(nf.DivergenceError, match=fix) as info:
        fit.fit(state, opt, data, CONFIG, on_epoch=called.append)
    assert "diverged" in str(info.value)
    assert called == []  # it failed inside the first epoch, before any checkpoint


def test_uint8_and_float_data_train_identically():
    data = teacher_data()
    # The loader's path: load_dataset(dtype=np.float32) scales a whole split at once
    # (_to_dataset), while fit scales each uint8 batch into its own buffer. Both must
    # give the correctly rounded p / 255, checked against an exact-rational table.
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_test": data.x_val, "y_test": data.y_val}
    loaded = _to_dataset("in memory", arrays, "mnist", np.float32)
    as_float = data._replace(x_train=loaded.x_train, x_val=loaded.x_test)
    pixels = correctly_rounded_pixels(np.float32)
    assert as_float.x_train.dtype == np.float32
    assert np.array_equal(as_float.x_train, pixels[data.x_train]) and np.array_equal(as_float.x_val, pixels[data.x_val])
    runs = []
    for d in (data, as_float):
        state, opt, sched = make_run()
        runs.append(fit.fit(state, opt, d, CONFIG))
    assert_same_state(*runs)


def test_float64_network():
    data = teacher_data()
    state, opt, sched = make_run(dtype=np.float64)
    final = fit.fit(state, opt, data, CONFIG._replace(epochs=2))
    assert all(p.dtype == np.float64 for p in final.params.values())
    assert all(v.dtype == np.float64 for v in final.opt_state.mu.values())


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(epochs=-1), "epochs"),
        (dict(dropout=1.0), "dropout"),
        (dict(patience=-1), "patience"),
        (dict(l2=-0.1), "l2"),
        (dict(activation="relu6"), "relu, leaky_relu"),
        (dict(activation=["relu", "tanh"]), "hidden layer"),
    ],
)
def test_bad_config_is_refused(change, message):
    data = teacher_data()
    state, opt, _ = make_run()
    with pytest.raises(nf.ConfigError, match=message):
        fit.fit(state, opt, data, CONFIG._replace(**change))


@pytest.mark.parametrize("name", optimizers.NAMES)
@pytest.mark.parametrize("l2, dropout", [(0.0, 0.0), (0.01, 0.3)])
def test_in_place_step_equals_the_public_pure_path(name, l2, dropout):
    """fit's fast path (buffers reused, params stepped in place) changes no bit of
    value_and_grad -> opt.update -> apply_updates."""
    rng = np.random.default_rng(0)
    params = nf.init((20, 16, 8, 3), 0)
    x = rng.random((32, 20), dtype=np.float32)
    y = rng.integers(0, 3, 32)
    opt = optimizers.get(name, schedules.cosine(0.05, 10))
    spec = ["relu", "tanh"]
    acts = activations.resolve(spec, 2)
    pure = [params, opt.init(params)]
    own = [copy_tree(params), fit._copy(opt.init(params))]
    buffers = _step.make_buffers(params)
    for i in range(4):
        value, grads = nf.value_and_grad(pure[0], x, y, activation=spec, l2=l2, dropout=dropout,
                                         rng=np.random.default_rng(i))
        penalty = l2_penalty(pure[0], 3, l2)
        updates, pure[1] = opt.update(grads, pure[1], pure[0])
        pure[0] = nf.apply_updates(pure[0], updates)
        own[0], own[1], ce, logits = _step.step_in_place(*own, x, y, opt, acts, l2, dropout,
                                                         np.random.default_rng(i), buffers)
        assert ce + penalty == value
        assert logits.shape == (32, 3)
    assert_bit_identical(pure[0], own[0])
    for a, b in zip(pure[1], own[1]):
        assert_bit_identical(a, b)


def test_an_optimizer_without_an_in_place_update_trains_the_same(tmp_path):
    """fit falls back to the pure update for a user's own Optimizer(init, update): same bits, no lr."""
    data = teacher_data()
    state, opt, _ = make_run("momentum", schedule="constant")
    own = nf.Optimizer(opt.init, opt.update)  # name, schedule and update_in_place left out
    fast = fit.fit(state, opt, data, CONFIG)
    plain = fit.fit(fit.start_fit(state.params, own, 0), own, data, CONFIG)
    assert_bit_identical(fast.params, plain.params)
    assert [r["lr"] for r in plain.history] == [None] * CONFIG.epochs


@pytest.mark.parametrize("change, message", [
    (lambda d: d._replace(y_train=d.y_train - 1), r"class id -1, outside \[0, 4\)"),
    (lambda d: d._replace(x_train=d.x_train[:, :-1]), r"data.x_train must be a 2-D array \(m, 20\)"),
    (lambda d: d._replace(x_val=np.full(d.x_val.shape, np.nan)), r"data.x_val contains NaN or inf"),
    (lambda d: d._replace(y_train=d.y_train[:-1]), r"y has 499 labels but x has 500 rows"),
    (lambda d: d._replace(x_train=d.x_train[:0], y_train=d.y_train[:0]), r"data.x_train has no rows"),
    (lambda d: tuple(d), r"data must be a TrainData"),
])
def test_bad_data_is_refused_before_training(change, message):
    state, opt, _ = make_run()
    with pytest.raises(nf.InputError, match=message):
        fit.fit(state, opt, change(teacher_data()), CONFIG)


@pytest.mark.parametrize("call, error, message", [
    (lambda p, x, y: evaluate(p, np.full(x.shape, np.nan), y), nf.InputError, "NaN or inf"),
    (lambda p, x, y: evaluate(p, x, y, l2=-1.0), nf.ConfigError, "l2 must be a finite number >= 0"),
    (lambda p, x, y: evaluate(p, x[:, :5], y), nf.InputError, r"must be a 2-D array \(m, 20\)"),
    (lambda p, x, y: evaluate(p, x, y + 5), nf.InputError, "outside"),
    (lambda p, x, y: evaluate(p, x, y, chunk=0), nf.ConfigError, "chunk must be an integer >= 1"),
])
def test_evaluate_checks_its_arguments(call, error, message):
    data = teacher_data()
    params = nf.init((N_FEATURES, 8, N_CLASSES), 0)
    x = data.x_val.astype(np.float32)
    with pytest.raises(error, match=message):
        call(params, x, data.y_val)
