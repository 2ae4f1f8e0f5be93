"""nnfunc's two file kinds on disk: each counts its own format, files of 0.3.0 and before still read as they did.

``tests/data/old_files`` holds a checkpoint and a model file written by
nnfunc 0.3.0 (see ``make_old_files.py`` there): one ``format_version`` both
kinds shared, a model file named by ``meta["kind"]``. ``as_old`` rewrites a
new file in that layout, for the cases the two stored files do not cover.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import nnfunc as nf
from nnfunc import npz
from nnfunc.fileio import UnreadableFile
from nnfunc.training import checkpoint, model_file
from nnfunc.training import loop as fit
from tests.helpers import assert_bit_identical

OLD = Path(__file__).resolve().parent / "data" / "old_files"
OLD_CONFIG = fit.FitConfig(epochs=2, batch_size=16, activation="relu", dropout=0.1)  # what made OLD/checkpoint.npz


def old_data():
    """The data OLD/checkpoint.npz was trained on (see make_old_files.py)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(120, 12), dtype=np.uint8)
    y = x[:, :3].argmax(axis=1).astype(np.int64)
    return fit.TrainData(x[:90], y[:90], x[90:], y[90:])


def entries(path):
    """Every entry of an .npz, read with NumPy alone."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write(path, arrays):
    np.savez(path, **arrays)
    return path


def as_old(path, number=None):
    """Rewrite the nnfunc file at ``path`` as nnfunc 0.3.0 laid it out: ``format_version``, meta["kind"] for a model."""
    arrays = entries(path)
    key = next(k for k in arrays if k.endswith("_format"))
    old = {"format_version": arrays.pop(key) if number is None else np.array(number)}
    arrays.pop(key, None)
    meta = json.loads(str(arrays.pop("meta")))
    if key == "model_format":
        meta = {"kind": "model", **meta}
    old.update(nnfunc_version=arrays.pop("nnfunc_version"), **arrays, meta=np.array(json.dumps(meta)))
    return write(path, old)


@pytest.fixture
def old_files(tmp_path):
    """Private copies of OLD's checkpoint and model file: (checkpoint path, model file path)."""
    return tuple(shutil.copy(OLD / name, tmp_path / name) for name in ("checkpoint.npz", "model.npz"))


def small_state(epochs, sizes=(12, 8, 3)):
    opt = nf.adam(1e-2)
    state = fit.start_fit(nf.init(sizes, 0), opt, 5)
    return fit.fit(state, opt, old_data(), OLD_CONFIG._replace(epochs=epochs)), opt


# --- each kind its own number ---------------------------------------------------------------------


def test_each_kind_stores_its_own_format_number_and_no_shared_one(tmp_path):
    state, _ = small_state(1)
    checkpoint.save(tmp_path / "run.npz", state, {"activation": "relu"}, "mnist")
    nf.save(tmp_path / "m.npz", state.params, activation="relu")
    run, model = entries(tmp_path / "run.npz"), entries(tmp_path / "m.npz")
    assert int(run["checkpoint_format"]) == checkpoint.FORMAT == 3
    assert int(model["model_format"]) == model_file.FORMAT == 1
    for arrays in (run, model):
        assert not {"format_version", "kind"} & (set(arrays) | set(json.loads(str(arrays["meta"]))))
        assert str(arrays["nnfunc_version"]) == nf.__version__
    assert "model_format" not in run and "checkpoint_format" not in model
    assert list(run)[:3] == ["checkpoint_format", "nnfunc_version", "meta"]  # the header, first in the zip


def test_the_header_names_kind_and_format_of_new_and_old_files(tmp_path, old_files):
    state, _ = small_state(1)
    checkpoint.save(tmp_path / "run.npz", state, {"activation": "relu"}, "mnist")
    nf.save(tmp_path / "m.npz", state.params, activation="relu")
    old_run, old_model = old_files
    found = {p.name: npz.read_header(p)[:2] for p in (tmp_path / "run.npz", tmp_path / "m.npz", old_run, old_model)}
    assert found == {"run.npz": ("checkpoint", 3), "m.npz": ("model", 1),
                     "checkpoint.npz": ("checkpoint", 3), "model.npz": ("model", 1)}
    header = npz.read_header(old_run)
    assert header.written_by == "0.3.0" and header.meta["epoch"] == 2
    assert not {"format_version", "nnfunc_version", "meta"} & set(header.shapes)
    assert header.shapes["params/W1"] == ((12, 8), np.dtype(np.float32))


def test_the_header_is_read_without_the_data(tmp_path):
    """A damaged array is found by reading it: the header, and a checkpoint's settings, are read without it."""
    state, _ = small_state(2, sizes=(12, 400, 3))
    path = tmp_path / "run.npz"
    checkpoint.save(path, state, {"activation": "relu"}, "mnist")
    data = bytearray(path.read_bytes())
    stored = state.params["W1"].tobytes()  # 19 KB: past what reading its .npy header reads ahead
    at = data.index(stored) + len(stored) - 7
    data[at] ^= 0xFF  # inside params/W1's data; its header and size stay whole
    path.write_bytes(bytes(data))
    assert npz.read_header(path).meta["epoch"] == 2
    assert checkpoint.read_meta(path)["epoch"] == 2
    with pytest.raises(UnreadableFile, match="'params/W1' fails its CRC check"):
        npz.read(path)
    with pytest.raises(nf.CheckpointError, match="params/W1.*CRC"):
        checkpoint.read(path)


def test_read_gives_every_entry_as_stored(tmp_path):
    state, _ = small_state(1)
    path = tmp_path / "run.npz"
    checkpoint.save(path, state, {"activation": "relu"}, "mnist")
    header, arrays = npz.read(path)
    assert_bit_identical(arrays, entries(path))
    assert header.meta == json.loads(str(arrays["meta"]))
    assert_bit_identical(checkpoint.read(path)[0], arrays)  # a copy can be written back whole


@pytest.mark.parametrize("kind", ["Model", "check_point", "", "model/x"])
def test_write_refuses_a_kind_that_is_not_a_word(tmp_path, kind):
    with pytest.raises(ValueError, match="lowercase word"):
        npz.write(tmp_path / "x.npz", {}, kind=kind, format=1, meta={})
    assert not (tmp_path / "x.npz").exists()


# --- files of nnfunc 0.3.0 ------------------------------------------------------------------------


def test_an_old_checkpoint_loads_as_stored(old_files):
    path, _ = old_files
    stored = entries(path)
    meta = json.loads(str(stored["meta"]))
    state, loaded_meta = checkpoint.load_state(path, nf.adam(1e-2), sizes=(12, 8, 3))
    assert loaded_meta == meta == checkpoint.read_meta(path)
    assert_bit_identical(state.params, {k: stored[f"params/{k}"] for k in state.params})
    assert_bit_identical(state.best_params, {k: stored[f"best/{k}"] for k in state.params})
    assert_bit_identical(state.opt_state.mu, {k: stored[f"opt/mu/{k}"] for k in state.params})
    assert_bit_identical(state.opt_state.nu, {k: stored[f"opt/nu/{k}"] for k in state.params})
    assert int(state.opt_state.count) == state.step == meta["step"] > 0
    assert (state.epoch, state.rng_states, list(state.history)) == (2, meta["rng_states"], meta["history"])
    params, _ = checkpoint.load_params(path)
    assert_bit_identical(params, state.best_params)
    model = nf.load(path)
    assert_bit_identical(model.params, state.best_params)
    assert (model.activation, model.dataset) == ("relu", "mnist")
    assert model.classes is None  # mnist names 10 classes, this network has 3 outputs


def test_an_old_checkpoint_resumes_as_its_resaved_copy_does(old_files, tmp_path):
    path, _ = old_files
    opt = nf.adam(1e-2)
    old, meta = checkpoint.load_state(path, opt)
    checkpoint.save(tmp_path / "new.npz", old, meta["config"], meta["dataset"])
    assert entries(tmp_path / "new.npz").keys() - entries(path).keys() == {"checkpoint_format"}
    new, _ = checkpoint.load_state(tmp_path / "new.npz", opt)
    a, b = (fit.fit(s, opt, old_data(), OLD_CONFIG._replace(epochs=3)) for s in (old, new))
    assert a.epoch == 3 and a.step > old.step
    assert_bit_identical(a.params, b.params)
    assert_bit_identical(a.opt_state.mu, b.opt_state.mu)
    assert a.rng_states == b.rng_states
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in a.history] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in b.history]


def test_an_old_style_checkpoint_resumes_as_one_run(tmp_path):
    straight, opt = small_state(4)
    half, _ = small_state(2)
    path = tmp_path / "model.npz"
    checkpoint.save(path, half, {"activation": "relu", "seed": 5}, "mnist")
    as_old(path)
    assert "format_version" in entries(path) and "checkpoint_format" not in entries(path)
    loaded, _ = checkpoint.load_state(path, opt)
    resumed = fit.fit(loaded, opt, old_data(), OLD_CONFIG._replace(epochs=4))
    assert_bit_identical(resumed.params, straight.params)
    assert_bit_identical(resumed.best_params, straight.best_params)
    for x, y in zip(resumed.opt_state, straight.opt_state):
        assert_bit_identical(x, y)
    assert resumed.rng_states == straight.rng_states


def test_an_old_model_file_loads_as_stored(old_files):
    _, path = old_files
    stored = entries(path)
    model = nf.load(path)
    assert_bit_identical(model.params, {k: stored[f"params/{k}"] for k in model.params})
    assert model.params["W3"].shape == (6, 3)
    assert (model.activation, model.classes, model.dataset) == (("relu", "tanh"), ("a", "b", "c"), "mnist")
    assert dict(model.config) == {}


def test_an_old_style_model_file_loads_as_its_new_one(tmp_path):
    params = nf.init((12, 8, 6, 3), 1)
    new = nf.load(nf.save(tmp_path / "new.npz", params, activation=["relu", "tanh"], classes=["a", "b", "c"]))
    old = nf.load(as_old(nf.save(tmp_path / "old.npz", params, activation=["relu", "tanh"], classes=["a", "b", "c"])))
    assert "format_version" in entries(tmp_path / "old.npz")
    assert_bit_identical(old.params, new.params)
    assert old[1:4] == new[1:4] and dict(old.config) == dict(new.config) == {}


# --- one kind given for the other, and numbers from the wrong count ------------------------------


@pytest.mark.parametrize("old_style", [False, True])
def test_a_model_file_is_no_checkpoint(tmp_path, old_style):
    path = nf.save(tmp_path / "model.npz", nf.init((12, 8, 3), 0), activation="relu")
    if old_style:
        as_old(path)
    for call in (checkpoint.read_meta, checkpoint.read, checkpoint.load_params,
                 lambda p: checkpoint.load_state(p, nf.adam())):
        with pytest.raises(nf.CheckpointError, match="is an nnfunc model file, but a checkpoint is needed here"):
            call(path)


def test_a_file_of_another_kind_is_named(tmp_path):
    path = nf.save(tmp_path / "m.npz", nf.init((12, 8, 3), 0), activation="relu")
    arrays = entries(path)
    arrays["sweep_format"] = arrays.pop("model_format")
    write(path, arrays)
    assert npz.read_header(path).kind == "sweep"
    with pytest.raises(nf.CheckpointError, match="is an nnfunc sweep file, but a checkpoint or model is needed here"):
        nf.load(path)


def test_a_format_number_counts_for_its_own_kind_only(tmp_path):
    """Model formats 1 and 2 are current, checkpoint format 1 is 0.1's: neither number is read as the other's."""
    params = nf.init((12, 8, 3), 0)
    path = nf.save(tmp_path / "m.npz", params, activation="relu")
    arrays = entries(path)
    write(path, {**arrays, "model_format": np.array(3)})
    with pytest.raises(nf.CheckpointError, match=r"is a model file of format 3 .*needed in format 1 or 2\."):
        nf.load(path)
    state, opt = small_state(1)
    run = tmp_path / "run.npz"
    checkpoint.save(run, state, {"activation": "relu"}, "mnist")
    write(run, {**entries(run), "checkpoint_format": np.array(1)})
    assert_bit_identical(nf.load(run).params, state.best_params)  # format 1 checkpoints still give their params
    with pytest.raises(nf.CheckpointError, match=r"is a checkpoint file of format 1 .*needed in format 2 or 3"):
        checkpoint.load_state(run, opt)
    write(run, {**entries(run), "checkpoint_format": np.array(2)})
    assert checkpoint.load_state(run, opt)[0].epoch == 1


def test_an_unknown_old_format_is_named_with_its_writer(tmp_path, old_files):
    path, _ = old_files
    write(path, {**entries(path), "format_version": np.array(4), "nnfunc_version": np.array("0.2.9")})
    with pytest.raises(nf.CheckpointError, match=r"format 4 \(written by nnfunc 0\.2\.9\); this is needed in format"):
        checkpoint.load_params(path)
    write(path, {**entries(path), "format_version": np.array("three")})
    with pytest.raises(nf.CheckpointError, match="corrupt format_version"):
        nf.load(path)


@pytest.mark.parametrize("change, words", [
    ({"format_version": np.array(3)}, r"holds 2 format numbers \('checkpoint_format', 'format_version'\)"),
    ({"model_format": np.array(1)}, "holds 2 format numbers"),
    ({"meta": {"kind": "model"}}, "checkpoint file whose meta record names it a model file; the file is damaged"),
    ({"checkpoint_format": None}, "not an nnfunc checkpoint or model file"),
])
def test_a_header_that_contradicts_itself_is_damage(tmp_path, change, words):
    state, _ = small_state(1)
    path = tmp_path / "run.npz"
    checkpoint.save(path, state, {"activation": "relu"}, "mnist")
    arrays = entries(path)
    for key, value in change.items():
        if key == "meta":
            value = np.array(json.dumps({**json.loads(str(arrays["meta"])), **value}))
        arrays[key] = value
    write(path, {k: v for k, v in arrays.items() if v is not None})
    for call in (nf.load, checkpoint.read_meta):
        with pytest.raises(nf.CheckpointError, match=words):
            call(path)


def test_an_old_kind_that_is_not_a_word_is_damage(old_files):
    _, path = old_files
    arrays = entries(path)
    meta = {**json.loads(str(arrays["meta"])), "kind": ["model"]}
    write(path, {**arrays, "meta": np.array(json.dumps(meta))})
    with pytest.raises(nf.CheckpointError, match=r"kind \['model'\] is not a word; the file is damaged"):
        nf.load(path)


# --- the command line on a run of nnfunc 0.3.0 ---------------------------------------------------


def test_an_old_style_run_evaluates_and_resumes_as_one_run(cli, tmp_path):
    from tests.test_cli import train

    quick = ("--no-plots", "--quiet")
    new, old, straight = tmp_path / "new", tmp_path / "old", tmp_path / "straight"
    train(cli, new, "--epochs", "2", "--decay-epochs", "4", *quick)
    shutil.copytree(new, old)
    as_old(old / "model.npz")
    assert "format_version" in entries(old / "model.npz")
    evaluated = [cli.run("evaluate", run) for run in (new, old)]
    assert all(r.returncode == 0 for r in evaluated), [r.stderr for r in evaluated]
    assert "accuracy" in evaluated[0].stdout
    assert evaluated[1].stdout == evaluated[0].stdout.replace(str(new), str(old))
    resumed = cli.run("train", "--resume", old, "--epochs", "3", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    train(cli, straight, "--epochs", "3", "--decay-epochs", "4", *quick)
    (a, meta_a), (b, meta_b) = checkpoint.read(old / "model.npz"), checkpoint.read(straight / "model.npz")
    assert "checkpoint_format" in a and "format_version" not in a  # the resumed run writes the new layout
    assert_bit_identical({k: v for k, v in a.items() if k != "meta"}, {k: v for k, v in b.items() if k != "meta"})
    assert meta_a["rng_states"] == meta_b["rng_states"] and meta_a["step"] == meta_b["step"]
