"""Trained models on disk (``nf.save``, ``nf.load``): exact round trips, both file kinds, clear errors."""

import json
import pickle
import zipfile

import numpy as np
import pytest

import nnfunc as nf
from nnfunc.training import checkpoint
from tests.helpers import assert_bit_identical

SIZES = (12, 8, 6, 3)
RUN_SIZES = (12, 8, 6, 10)  # ten outputs, like the dataset the run records
CLASSES = ("cat", "dog", "bird")


@pytest.fixture
def params():
    return nf.init(SIZES, 0)


@pytest.fixture
def run_dir(tmp_path):
    """A real training run's directory: two epochs of fit, checkpointed as the CLI does."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(90, SIZES[0]), dtype=np.uint8)
    y = x[:, :3].argmax(axis=1).astype(np.int64)
    opt = nf.adam(1e-2)
    state = nf.start_fit(nf.init(RUN_SIZES, 1), opt, 0)
    config = nf.FitConfig(epochs=2, batch_size=16, activation=["relu", "tanh"])
    state = nf.fit(state, opt, nf.TrainData(x[:60], y[:60], x[60:], y[60:]), config)
    run = tmp_path / "run"
    checkpoint.save(run / "model.npz", state, {"activation": "relu,tanh", "l2": 0.0}, "fashion-mnist")
    return run, state


def test_save_then_load_is_exact(tmp_path, params):
    path = nf.save(tmp_path / "m.npz", params, activation=["relu", "tanh"], classes=CLASSES)
    model = nf.load(path)
    assert_bit_identical(model.params, params)
    assert model.activation == ("relu", "tanh") and model.classes == CLASSES
    assert model.dataset is None and dict(model.config) == {} and model.path == path
    x = np.random.default_rng(0).random((5, SIZES[0]), dtype=np.float32)
    assert_bit_identical(nf.predict(model.params, x, activation=model.activation),
                         nf.predict(params, x, activation=["relu", "tanh"]))


def test_the_file_holds_no_pickle_and_loads_with_numpy_alone(tmp_path, params):
    path = nf.save(tmp_path / "m.npz", params, activation="relu", dataset="mnist")
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(k for k in npz.files if k.startswith("params/")) == sorted(f"params/{k}" for k in params)


def test_the_record_is_immutable(tmp_path, params):
    model = nf.load(nf.save(tmp_path / "m.npz", params, activation="relu"))
    with pytest.raises(AttributeError):
        model.activation = "tanh"
    run_config = nf.load(nf.save(tmp_path / "n.npz", params, activation="relu")).config
    with pytest.raises(TypeError):
        run_config["l2"] = 1.0


def test_load_reads_a_run_directory_and_its_checkpoint(run_dir):
    run, state = run_dir
    by_dir, by_file = nf.load(run), nf.load(run / "model.npz")
    assert by_dir.path == by_file.path == run / "model.npz"
    # a validation set tracked the best params: those are the ones to use
    assert_bit_identical(by_dir.params, state.best_params)
    assert by_dir.activation == ("relu", "tanh")
    assert by_dir.dataset == "fashion-mnist" and by_dir.classes[0] == "T-shirt/top" and len(by_dir.classes) == 10
    assert by_dir.config["l2"] == 0.0


@pytest.mark.parametrize("classes, message", [
    (("a", "b"), r"classes must be 3 names"),
    ("abc", r"classes must be 3 names"),
])
def test_bad_classes_are_refused_before_writing(tmp_path, params, classes, message):
    with pytest.raises(nf.ConfigError, match=message):
        nf.save(tmp_path / "m.npz", params, activation="relu", classes=classes)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("activation, error", [("relu6", nf.ConfigError), (["relu"], nf.ConfigError)])
def test_bad_activation_is_refused(tmp_path, params, activation, error):
    with pytest.raises(error, match="activation"):
        nf.save(tmp_path / "m.npz", params, activation=activation)


def test_bad_params_and_dataset_are_refused(tmp_path, params):
    with pytest.raises(nf.ParamsError):
        nf.save(tmp_path / "m.npz", {"W1": params["W1"]}, activation="relu")
    with pytest.raises(nf.ConfigError, match="unknown dataset 'cifar'"):
        nf.save(tmp_path / "m.npz", params, activation="relu", dataset="cifar")
    with pytest.raises(nf.ConfigError, match="is a directory"):
        nf.save(tmp_path, params, activation="relu")


def test_a_directory_without_a_model_names_both_choices(tmp_path):
    with pytest.raises(nf.CheckpointError, match=r"is a directory without model.npz; pass a run directory"):
        nf.load(tmp_path)
    with pytest.raises(nf.CheckpointError, match=r"no file at .*missing.npz; pass a run directory"):
        nf.load(tmp_path / "missing.npz")


def test_damaged_files_are_refused(tmp_path, params):
    path = nf.save(tmp_path / "m.npz", params, activation="relu")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(nf.CheckpointError, match="corrupt or truncated"):
        nf.load(tmp_path / "cut.npz")
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps(params))
    with pytest.raises(nf.CheckpointError, match="not an .npz file"):
        nf.load(tmp_path / "pickled.npz")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as z:
        z.writestr("a.npy", b"")
    with pytest.raises(nf.CheckpointError):
        nf.load(tmp_path / "other.npz")


def test_a_model_file_cannot_be_resumed(tmp_path, params):
    path = nf.save(tmp_path / "model.npz", params, activation="relu")
    with pytest.raises(nf.CheckpointError, match="nnfunc model file, but a checkpoint is needed"):
        checkpoint.load_state(path, nf.adam(), sizes=SIZES)


def _resave(tmp_path, params, **meta_changes):
    """A model file whose meta record was edited after nf.save: what a damaged or hand-made file looks like."""
    path = nf.save(tmp_path / "m.npz", params, activation="relu", classes=CLASSES)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = {**json.loads(str(arrays["meta"])), **meta_changes}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


@pytest.mark.parametrize("change", [{"activation": 5}, {"activation": ["relu", 3]}, {"classes": 3},
                                    {"classes": ["a", "b"]}, {"dataset": ["mnist"]}])
def test_a_damaged_meta_record_is_a_checkpoint_error(tmp_path, params, change):
    with pytest.raises(nf.CheckpointError, match="damaged|does not fit"):
        nf.load(_resave(tmp_path, params, **change))


@pytest.mark.parametrize("classes, dataset", [(5, None), (None, ["mnist"]), (None, 3)])
def test_save_refuses_non_sequence_classes_and_odd_datasets(tmp_path, params, classes, dataset):
    with pytest.raises(nf.ConfigError):
        nf.save(tmp_path / "m.npz", params, activation="relu", classes=classes, dataset=dataset)


def test_a_format_1_checkpoint_still_gives_its_params(run_dir):
    """Runs written by nnfunc 0.1 (checkpoint format 1) can be evaluated, not resumed."""
    run, state = run_dir
    path = run / "model.npz"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    del arrays["checkpoint_format"]  # as nnfunc 0.1 wrote it: one number both kinds shared
    arrays["format_version"] = np.array(1)
    np.savez(path, **arrays)
    assert_bit_identical(nf.load(run).params, state.best_params)
    with pytest.raises(nf.CheckpointError, match=r"format 1 .*needed in format 2 or 3. Pass the directory of a run"):
        checkpoint.load_state(path, nf.adam(1e-2), sizes=RUN_SIZES)


@pytest.mark.parametrize("output", ["logistic", "identity", "exp"])
def test_a_model_file_records_its_output_layer(tmp_path, params, output):
    path = nf.save(tmp_path / "m.npz", params, activation="relu", output=output)
    model = nf.load(path)
    assert model.output == output
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["model_format"]) == 2  # nnfunc before the output layers refuses it rather than misread it
    x = np.random.default_rng(0).random((5, SIZES[0]))
    assert_bit_identical(nf.predict(model.params, x, activation="relu", output=model.output),
                         nf.predict(params, x, activation="relu", output=output))


def test_a_softmax_model_file_stays_format_1(tmp_path, params):
    path = nf.save(tmp_path / "m.npz", params, activation="relu")
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["model_format"]) == 1 and "output" not in json.loads(str(npz["meta"]))
    assert nf.load(path).output == "softmax"


def test_an_unknown_output_is_refused_on_save_and_on_load(tmp_path, params):
    with pytest.raises(nf.ConfigError, match="unknown output"):
        nf.save(tmp_path / "m.npz", params, activation="relu", output="tanh")
    path = nf.save(tmp_path / "m.npz", params, activation="relu", output="exp")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    meta["output"] = "cubic"
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(nf.CheckpointError, match="output 'cubic'"):
        nf.load(tmp_path / "bad.npz")


def test_the_classifying_commands_refuse_another_output_layer_by_name(cli, tmp_path):
    from PIL import Image

    path = nf.save(tmp_path / "reg.npz", nf.init((784, 5, 1), 0), activation="relu", output="identity",
                   dataset="mnist")
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(tmp_path / "x.png")
    for args in (("predict", path, tmp_path / "x.png"), ("evaluate", path)):
        out = cli.run(*args, data=args[0] == "evaluate")
        assert out.returncode == 2, out.stderr
        assert "identity output layer" in out.stderr and "output=model.output" in out.stderr
        assert "Traceback" not in out.stderr
