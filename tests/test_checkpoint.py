"""Checkpoints (``nnfunc.training.checkpoint``): exact round trips, no pickle, clear errors, atomic saves."""

import json
import math

import numpy as np
import pytest

import nnfunc as nf
from nnfunc.optim import optimizers, schedules
from nnfunc.training import checkpoint
from nnfunc.training import loop as fit
from tests.helpers import assert_bit_identical

SIZES = (12, 8, 3)
CONFIG = fit.FitConfig(epochs=2, batch_size=16, activation="relu", l2=1e-3, dropout=0.1, patience=5)
RUN_CONFIG = {"hidden": "8", "optimizer": "adam", "epochs": 2, "note": "any JSON-able dict"}


def make_data(m=120, val_size=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(m, SIZES[0]), dtype=np.uint8)
    y = (x[:, :SIZES[-1]].argmax(axis=1)).astype(np.int64)
    cut = m - val_size
    return fit.TrainData(x[:cut], y[:cut], x[cut:], y[cut:])


def make_opt(name):
    return optimizers.get(name, schedules.get("cosine", 1e-2, total_steps=40))


def trained_state(name="adam", *, epochs=2, val_size=30, dtype=np.float32, sizes=SIZES):
    """A FitState after ``epochs`` epochs: non-zero optimizer state, history, best params."""
    opt = make_opt(name)
    state = fit.start_fit(nf.init(sizes, 0, dtype=dtype), opt, 0)
    return fit.fit(state, opt, make_data(val_size=val_size), CONFIG._replace(epochs=epochs)), opt


def assert_same_state(a, b):
    assert_bit_identical(a.params, b.params)
    assert type(a.opt_state) is type(b.opt_state)
    for x, y in zip(a.opt_state, b.opt_state):
        assert_bit_identical(x, y)
    assert (a.epoch, a.step, a.bad_epochs, a.best_val_loss) == (b.epoch, b.step, b.bad_epochs, b.best_val_loss)
    assert a.rng_states == b.rng_states
    assert (a.best_params is None) == (b.best_params is None)
    if a.best_params is not None:
        assert_bit_identical(a.best_params, b.best_params)
    assert list(a.history) == list(b.history)


@pytest.mark.parametrize("name", optimizers.NAMES)
def test_round_trip_is_exact_for_every_optimizer(tmp_path, name):
    state, opt = trained_state(name)
    assert int(state.opt_state.count) > 0
    path = tmp_path / "model.npz"
    checkpoint.save(path, state, RUN_CONFIG, "mnist")
    loaded, meta = checkpoint.load_state(path, opt, sizes=SIZES)
    assert_same_state(state, loaded)
    assert meta["config"] == RUN_CONFIG and meta["dataset"] == "mnist"
    # every entry is a plain array: nothing needs pickle
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)


def test_round_trip_float64_and_no_validation(tmp_path):
    state, opt = trained_state("momentum", val_size=0, dtype=np.float64)
    assert state.best_params is None and state.best_val_loss == math.inf
    path = tmp_path / "model.npz"
    checkpoint.save(path, state, RUN_CONFIG, "fashion-mnist")
    loaded, meta = checkpoint.load_state(path, opt)
    assert_same_state(state, loaded)
    assert loaded.params["W1"].dtype == np.float64
    assert meta["dataset"] == "fashion-mnist"


def test_resume_through_a_checkpoint_equals_one_run(tmp_path):
    direct, opt = trained_state("adam", epochs=4)
    half, _ = trained_state("adam", epochs=2)
    path = tmp_path / "model.npz"
    checkpoint.save(path, half, RUN_CONFIG, "mnist")
    loaded, _ = checkpoint.load_state(path, opt, sizes=SIZES)
    resumed = fit.fit(loaded, opt, make_data(), CONFIG._replace(epochs=4))
    assert_bit_identical(direct.params, resumed.params)
    for x, y in zip(direct.opt_state, resumed.opt_state):
        assert_bit_identical(x, y)
    assert direct.rng_states == resumed.rng_states and direct.step == resumed.step


def test_load_params_prefers_the_best_params(tmp_path):
    state, _ = trained_state("sgd", epochs=3)
    # make sure best and last differ, so the test can tell them apart
    state = state._replace(best_params={k: v + 1 for k, v in state.params.items()})
    path = tmp_path / "model.npz"
    checkpoint.save(path, state, RUN_CONFIG, "mnist")
    params, meta = checkpoint.load_params(path, sizes=SIZES)
    assert_bit_identical(params, state.best_params)
    assert meta["epoch"] == 3
    no_best = tmp_path / "last.npz"
    checkpoint.save(no_best, state._replace(best_params=None), RUN_CONFIG, "mnist")
    assert_bit_identical(checkpoint.load_params(no_best)[0], state.params)


@pytest.mark.parametrize("replace_after", ["npz_headers", "read_npz"])
def test_a_checkpoint_replaced_while_it_is_read_is_read_whole(tmp_path, monkeypatch, replace_after):
    """A training run renames a new checkpoint over the old one every epoch: a reader sees one of them, never both."""
    from nnfunc import npz

    older, opt = trained_state("adam", epochs=2)
    newer, _ = trained_state("adam", epochs=3)
    path, next_file = tmp_path / "model.npz", tmp_path / "next.npz"
    checkpoint.save(path, older, RUN_CONFIG, "mnist")
    checkpoint.save(next_file, newer, RUN_CONFIG, "mnist")
    original = getattr(npz, replace_after)

    def then_replace(*args, **kwargs):
        result = original(*args, **kwargs)
        if next_file.exists():
            next_file.replace(path)  # what the writer's atomic save does, between two reads
        return result

    monkeypatch.setattr(npz, replace_after, then_replace)
    loaded, meta = checkpoint.load_state(path, opt, sizes=SIZES)
    assert_same_state(older, loaded) and meta["epoch"] == 2
    assert not next_file.exists()  # the replacement did happen mid-read
    monkeypatch.undo()
    assert_same_state(newer, checkpoint.load_state(path, opt, sizes=SIZES)[0])


@pytest.fixture
def saved(tmp_path):
    """(path, bytes) of a real checkpoint of an adam run."""
    state, _ = trained_state("adam")
    path = tmp_path / "model.npz"
    checkpoint.save(path, state, RUN_CONFIG, "mnist")
    return path, path.read_bytes()


def assert_checkpoint_error(path, *fix_words, call=None):
    call = call or (lambda: checkpoint.load_params(path))
    with pytest.raises(nf.CheckpointError) as info:
        call()
    message = str(info.value)
    assert str(path) in message
    for word in fix_words:
        assert word in message
    return message


def test_missing_file(tmp_path):
    assert_checkpoint_error(tmp_path / "nope.npz", "no file at", checkpoint.FIX)


def test_directory_without_a_model_file(tmp_path):
    assert_checkpoint_error(tmp_path, "is a directory without model.npz", checkpoint.FIX)


def test_truncated_file(saved):
    path, data = saved
    path.write_bytes(data[: len(data) // 2])
    assert_checkpoint_error(path, "corrupt or truncated", checkpoint.FIX)


def _save_npy(path, array):
    """Write ``array`` in .npy format under ``path`` as named (np.save would append .npy)."""
    with path.open("wb") as f:
        np.save(f, array)


def test_random_bytes_empty_file_and_npy(tmp_path):
    path = tmp_path / "model.npz"
    for write in (lambda: path.write_bytes(np.random.default_rng(0).bytes(5000)),
                  lambda: path.write_bytes(b""),
                  lambda: _save_npy(path, np.zeros(3))):
        write()
        assert_checkpoint_error(path, "not an .npz file", checkpoint.FIX)


def rewrite(path, **changes):
    """Rewrite the checkpoint at ``path`` with some entries replaced (None: removed)."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, meta=np.array([{"a": 1}, None], dtype=object), format_version=np.array(1))
    assert_checkpoint_error(path, "pickle", checkpoint.FIX)


def test_npz_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, W1=np.zeros((2, 2)))
    assert_checkpoint_error(path, "not an nnfunc checkpoint")


def test_unknown_format_version(saved):
    path, _ = saved
    rewrite(path, checkpoint_format=np.array(checkpoint.FORMAT + 1))
    message = assert_checkpoint_error(path, f"format {checkpoint.FORMAT + 1}", nf.__version__)
    assert "nnfunc version" in message


def test_corrupt_meta(saved):
    path, _ = saved
    rewrite(path, meta=np.array("{not json"))
    assert_checkpoint_error(path, "meta")
    rewrite(path, meta=np.array('{"epoch": 2}'))
    assert_checkpoint_error(path, "meta record without", "history")
    rewrite(path, meta=np.array("[1, 2]"))
    assert_checkpoint_error(path, "meta record that is not a JSON object", checkpoint.FIX)


def test_corrupt_format_version(saved):
    path, _ = saved
    rewrite(path, checkpoint_format=np.array("one"))
    assert_checkpoint_error(path, "corrupt checkpoint_format")


def test_missing_arrays(saved):
    path, good = saved
    rewrite(path, **{"opt/mu/W1": None})
    assert_checkpoint_error(path, "opt/mu/W1", call=lambda: checkpoint.load_state(path, make_opt("adam")))
    # without b2 the rest still looks like a valid one-layer network: it must not load as one
    for key in ("params/b2", "params/W1", "best/b2"):
        path.write_bytes(good)
        rewrite(path, **{key: None})
        assert_checkpoint_error(path, "inconsistent", call=lambda: checkpoint.load_state(path, make_opt("adam")))
    assert_checkpoint_error(path, "inconsistent")  # load_params reads best/


def test_other_architecture_names_both(saved):
    path, _ = saved
    for call in (lambda: checkpoint.load_params(path, sizes=(12, 5, 3)),
                 lambda: checkpoint.load_state(path, make_opt("adam"), sizes=(12, 5, 3))):
        assert_checkpoint_error(path, "12-8-3", "12-5-3", "--hidden", call=call)


@pytest.mark.parametrize("other", ["sgd", "momentum", "rmsprop"])
def test_optimizer_state_of_another_optimizer(saved, other):
    path, _ = saved
    message = assert_checkpoint_error(path, other, "optimizer",
                                      call=lambda: checkpoint.load_state(path, make_opt(other)))
    assert "mu" in message and "nu" in message


def test_save_leaves_no_temp_files(tmp_path):
    state, _ = trained_state("adam")
    for _ in range(2):  # the second save replaces the first
        checkpoint.save(tmp_path / "model.npz", state, RUN_CONFIG, "mnist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_failed_save_keeps_the_old_file(saved, monkeypatch):
    path, old = saved
    state, _ = trained_state("sgd", epochs=3)
    real_savez = np.savez

    def savez_then_fail(f, **arrays):
        real_savez(f, **dict(list(arrays.items())[:2]))  # part of the data is written, then
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, state, RUN_CONFIG, "mnist")
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.npz"]
    assert checkpoint.load_params(path)[1]["epoch"] == 2


def test_meta_is_plain_json(saved):
    path, _ = saved
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
    assert meta["sizes"] == list(SIZES) and meta["epoch"] == 2 and meta["dtype"] == "float32"
    assert len(meta["history"]) == 2
    assert set(meta["rng_states"]) == {"batches", "dropout", "augment"}


def test_a_checkpoint_from_before_augmentation_resumes_with_the_seeds_augment_stream(tmp_path):
    """0.2 wrote two streams; the third is the one a run of that seed starts with (it never drew)."""
    from nnfunc.training.seeds import run_seeds

    state, opt = trained_state()
    old = state._replace(rng_states={k: v for k, v in state.rng_states.items() if k != "augment"})
    path = tmp_path / "model.npz"
    checkpoint.save(path, old, {**RUN_CONFIG, "seed": 11}, "mnist")
    loaded, _ = checkpoint.load_state(path, opt, sizes=SIZES)
    assert loaded.rng_states["augment"] == np.random.default_rng(run_seeds(11).augment).bit_generator.state
    assert {k: v for k, v in loaded.rng_states.items() if k != "augment"} == old.rng_states
    checkpoint.save(path, old, {**RUN_CONFIG, "seed": -2}, "mnist")
    with pytest.raises(nf.CheckpointError, match="lacks 'augment'"):
        checkpoint.load_state(path, opt, sizes=SIZES)
