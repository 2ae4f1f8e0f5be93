"""The command line, end to end: real subprocesses on a small subset of real MNIST.

``python -m nnfunc train|evaluate|predict`` (and ``python -m nnfunc.train``
and the ``nnfunc`` console script) run as a user would run them, with HOME,
the caches and matplotlib's config in a temporary directory. Runs that
several tests inspect are made once per module by fixtures.
"""

import gzip
import json
import re
import shutil
import signal
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nnfunc as nf
from nnfunc.data.images import load_image
from nnfunc.training import checkpoint

SMALL = ["--train-size", "2000", "--test-size", "500", "--val-size", "200", "--hidden", "16"]
EPOCH_KEYS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
PLOTS = ["loss.png", "accuracy.png", "weights.png", "activations.png", "confusion.png", "misclassified.png"]
RUN_FILES = sorted([".lock", "config.json", "metrics.csv", "metrics.json", "model.npz", *PLOTS])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def train(cli, out, *args):
    result = cli.run("train", *SMALL, "--out", out, *args)
    assert result.returncode == 0, result.stderr
    return result


def assert_clean_error(result, code, *words):
    """Exit ``code``, each word on stderr, and no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def read_json(path):
    return json.loads(Path(path).read_text())


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def without_seconds(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


@pytest.fixture(scope="module")
def base(cli):
    """A 2-epoch run with every plot: (run dir, CompletedProcess)."""
    out = cli.home / "base"
    return out, train(cli, out, "--epochs", "2")


# --- a plain run -------------------------------------------------------------------------------


def test_run_writes_exactly_its_files(base):
    out, _ = base
    # no temp files (".model.npz.xxxx.tmp") left behind
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES


@pytest.mark.parametrize("name", PLOTS)
def test_plots_are_real_pngs(base, name):
    path = base[0] / name
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.load()
        assert image.width >= 200 and image.height >= 150
        extrema = image.convert("L").getextrema()
    assert extrema[1] - extrema[0] > 100  # drawn on, not a blank canvas


def test_metrics_json(base):
    out, result = base
    record = read_json(out / "metrics.json")
    assert list(record) == ["epochs", "test"]
    assert [r["epoch"] for r in record["epochs"]] == [1, 2]
    for r in record["epochs"]:
        assert list(r) == EPOCH_KEYS
        assert 0 <= r["train_accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1
        assert r["train_loss"] > 0 and r["val_loss"] > 0 and r["lr"] > 0 and r["seconds"] >= 0
    assert list(record["test"]) == ["loss", "accuracy"]
    accuracy = record["test"]["accuracy"]
    assert 0.3 < accuracy <= 1  # chance is 0.1
    assert f"test accuracy {100 * accuracy:.2f}%" in result.stdout


def test_metrics_csv_matches_json(base):
    out, _ = base
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(EPOCH_KEYS)
    epochs = read_json(out / "metrics.json")["epochs"]
    assert len(lines) == 1 + len(epochs)
    for line, r in zip(lines[1:], epochs):
        assert [float(cell) for cell in line.split(",")] == [r[k] for k in EPOCH_KEYS]


def test_config_and_checkpoint(base):
    out, _ = base
    config = read_json(out / "config.json")
    assert config["dataset"] == "mnist" and config["epochs"] == 2 and config["hidden"] == "16"
    assert config["optimizer"] == "adam" and config["decay_epochs"] == 2 and config["seed"] == 0
    params, meta = checkpoint.load_params(out / "model.npz", sizes=(784, 16, 10))
    assert meta["epoch"] == 2 and meta["dataset"] == "mnist" and meta["config"] == config
    assert params["W1"].dtype == np.float32


def test_stdout_has_one_line_per_epoch_and_no_bars(base):
    _, result = base
    lines = result.stdout.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1/2", "2/2"]
    assert all("train loss" in line and "val loss" in line for line in epoch_lines)
    assert lines[-1].startswith("test accuracy")
    # stdout is a pipe, not a terminal: no tqdm bar, no carriage returns
    for text in (result.stdout, result.stderr):
        assert "\r" not in text and "█" not in text and "batch/s" not in text
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_help_mentions_every_flag_with_its_real_default(cli):
    result = cli.run("train", "--help", data=False)
    assert result.returncode == 0
    flags = ("--hidden --activation --init --optimizer --lr --schedule --epochs --batch-size --l2 --dropout "
             "--val-size --patience --seed --dtype --dataset --data-dir --out --resume --gradcheck --quiet --no-plots")
    missing = [f for f in flags.split() if not re.search(re.escape(f) + r"\b", result.stdout)]
    assert missing == []
    text = " ".join(result.stdout.split())  # argparse wraps help text
    assert "default: None" not in text
    for shown in ("(default: 30)", "(default: 64)", "(default: 0.0003)", "(default: 25,25)", "(default: relu)",
                  "(default: 5000)", "(default: cosine)", "adam 0.003"):
        assert shown in text, shown


@pytest.mark.parametrize("argv", [
    ["-m", "nnfunc.train", "--help"],
    ["-m", "nnfunc", "train", "--help"],
    ["-m", "nnfunc", "evaluate", "--help"],
    ["-m", "nnfunc", "predict", "--help"],
    ["-m", "nnfunc", "gradcheck", "--help"],
])
def test_every_command_is_reachable(cli, argv):
    result = cli.run(None, argv=[sys.executable, *argv])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_the_console_script_dispatches(cli):
    script = Path(sys.executable).parent / "nnfunc"
    if not script.exists():
        pytest.skip("nnfunc is not installed with its console script (pip install -e .)")
    result = cli.run(None, argv=[str(script), "predict", "--help"])
    assert result.returncode == 0 and "usage: nnfunc predict" in result.stdout
    listed = cli.run(None, argv=[str(script)])
    assert listed.returncode == 2 and all(c in listed.stdout for c in ("train", "evaluate", "predict", "gradcheck"))
    unknown = cli.run(None, argv=[str(script), "fit"])
    assert_clean_error(unknown, 2, "unknown command 'fit'", "train, evaluate, predict, gradcheck")


# --- resume --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["cosine", "constant", "augmented"])
def resumed_and_direct(cli, request):
    """(resumed dir, direct dir, resume CompletedProcess): 2 epochs resumed to 4, and 4 in one go.

    The cosine schedule spans --decay-epochs (default --epochs), so the
    2-epoch run asks for the 4-epoch horizon explicitly. "augmented" is the
    cosine run with every training batch distorted.
    """
    schedule = request.param
    flags = ["--no-plots", "--dropout", "0.1", "--patience", "5"]
    if schedule == "augmented":
        flags += ["--augment", "elastic+affine", "--shear", "5"]
    else:
        flags += ["--schedule", schedule]
    resumed, direct = cli.home / f"resumed-{schedule}", cli.home / f"direct-{schedule}"
    train(cli, resumed, "--epochs", "2", "--decay-epochs", "4", *flags)
    resume = cli.run("train", "--resume", resumed, "--epochs", "4")
    assert resume.returncode == 0, resume.stderr
    train(cli, direct, "--epochs", "4", *flags)
    return resumed, direct, resume


def test_resume_equals_one_run(resumed_and_direct):
    resumed, direct, _ = resumed_and_direct
    a, b = npz_arrays(resumed / "model.npz"), npz_arrays(direct / "model.npz")
    assert sorted(a) == sorted(b)
    assert any(k.startswith("opt/") for k in a) and any(k.startswith("params/") for k in a)
    for key in a:
        if key != "meta":
            assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
    meta_a, meta_b = json.loads(str(a["meta"])), json.loads(str(b["meta"]))
    assert meta_a["epoch"] == meta_b["epoch"] == 4
    assert without_seconds(meta_a.pop("history")) == without_seconds(meta_b.pop("history"))
    # the resumed run records the resume: at which epoch, on what
    [record] = meta_a["config"].pop("resumed")
    assert record["epoch"] == 2 and record["kernels"] == meta_a["config"]["computed_by"]["kernels"]
    assert "resumed" not in meta_b["config"] and "allow_other_kernels" not in record
    assert meta_a == meta_b  # config, what computed it, RNG state, step, early-stopping counters


def test_resume_continues_the_history(resumed_and_direct):
    resumed, direct, resume = resumed_and_direct
    a, b = read_json(resumed / "metrics.json"), read_json(direct / "metrics.json")
    assert [r["epoch"] for r in a["epochs"]] == [1, 2, 3, 4]
    assert without_seconds(a["epochs"]) == without_seconds(b["epochs"])
    assert a["test"] == b["test"]
    assert [line.split()[1] for line in resume.stdout.splitlines() if line.startswith("epoch")] == ["3/4", "4/4"]
    assert read_json(resumed / "config.json")["epochs"] == 4


def test_resume_needs_epochs(cli, base):
    result = cli.run("train", "--resume", base[0])
    assert_clean_error(result, 2, "--resume needs --epochs")


def test_resume_of_a_directory_without_a_run(cli, tmp_path):
    result = cli.run("train", "--resume", tmp_path, "--epochs", "3")
    assert_clean_error(result, 2, str(tmp_path / "model.npz"), "pass the directory of a run")


def test_reusing_a_run_directory_is_refused(cli, base, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(base[0], out)
    before = (out / "model.npz").read_bytes()
    result = cli.run("train", *SMALL, "--epochs", "2", "--out", out)
    assert_clean_error(result, 2, "already holds a model.npz", f"--resume {out}")
    assert (out / "model.npz").read_bytes() == before


def test_an_augmented_run_draws_its_distortions(cli, tmp_path):
    out = tmp_path / "run"
    train(cli, out, "--epochs", "1", "--augment", "elastic+affine", "--rotate", "12")
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES + ["augment.png"])
    png = (out / "augment.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 400 and height >= 400  # 8 digits by 8 columns, each at least 2 screen pixels a pixel
    config = read_json(out / "config.json")
    assert config["augment"] == "elastic+affine" and config["rotate"] == 12 and config["elastic_alpha"] == 34


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--activation", "relu6"], ["relu6", "relu, leaky_relu, sigmoid, tanh, linear"]),
        (["--hidden", "25,x"], ["--hidden", "'25,x'", "comma-separated integers"]),
        (["--activation", "relu,tanh"], ["one name per hidden layer"]),
        (["--batch-size", "0"], ["--batch-size", ">= 1"]),
        (["--dropout", "1.5"], ["--dropout", "[0, 1)"]),
        (["--val-size", "5000"], ["--val-size 5000", "--train-size 2000"]),
        (["--optimizer", "adagrad"], ["invalid choice", "adam"]),
        (["--epochs", "0"], ["--epochs", ">= 1"]),
        (["--lr", "-1"], ["--lr", ">= 0"]),
        (["--l2", "nan"], ["--l2", "finite"]),
        (["--seed", "-1"], ["--seed", ">= 0"]),
        (["--patience", "2", "--val-size", "0"], ["--patience", "--val-size"]),
        (["--warmup-epochs", "3"], ["--warmup-epochs", "--decay-epochs"]),
        (["--test-size", "20000"], ["--test-size 20000", "10000"]),
        (["--train-size", "0"], ["--train-size", ">= 1"]),
        (["--init", "kaiming"], ["--init", "he_uniform"]),
        (["--hidden", "16,0"], ["--hidden", ">= 1"]),
        (["--decay-epochs", "0"], ["--decay-epochs", ">= 1"]),
        (["--augment", "wobble"], ["invalid choice", "elastic+affine"]),
        (["--rotate", "5"], ["--rotate", "--augment is 'none'", "pass --augment affine"]),
        (["--augment", "elastic", "--shift", "1"], ["--shift", "--augment is 'elastic'", "or drop --shift"]),
        (["--augment", "affine", "--elastic-alpha", "9"], ["--elastic-alpha", "pass --augment elastic"]),
        (["--augment", "elastic", "--elastic-sigma", "0"], ["--elastic-sigma", "(0, 100]"]),
        (["--augment", "affine", "--scale", "1"], ["--scale", "[0, 1)"]),
        (["--augment", "affine", "--rotate", "inf"], ["--rotate", "finite"]),
        (["--rotate", "5", "--elastic-alpha", "9"], ["--rotate", "pass --augment elastic+affine,"]),
        (["--augment", "elastic", "--elastic-alpha", "0"], ["--elastic-alpha 0", "leaves every image as it is"]),
        (["--augment", "affine", "--rotate", "0", "--scale", "0", "--shear", "0", "--shift", "0"],
         ["--shift 0", "drop the affine part"]),
    ],
)
def test_bad_flags_fail_before_writing(cli, tmp_path, args, words):
    out = tmp_path / "run"
    result = cli.run("train", *SMALL, "--epochs", "1", "--out", out, *args)
    assert_clean_error(result, 2, *words)
    assert not out.exists()  # nothing to clean up, the same --out works after the fix
    assert not re.search(r"\b[a-z]+_[a-z_]+=", result.stderr), result.stderr  # no Python keyword in a CLI error


def test_empty_data_dir_lists_what_was_tried(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli.run("train", *SMALL, "--epochs", "1", "--out", tmp_path / "run", "--data-dir", empty,
                     data=False)
    assert_clean_error(result, 2, str(empty), "missing", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                       "--data-dir")
    assert "data_dir" not in result.stderr.replace(str(empty), "")


def test_no_data_anywhere_names_the_flags(cli, tmp_path):
    result = cli.run("train", *SMALL, "--epochs", "1", "--out", tmp_path / "run", "--offline", data=False)
    assert_clean_error(result, 2, "no usable source", "--data-dir DIR", "drop --offline", "NNFUNC_DATA_DIR")
    assert "data_dir" not in result.stderr and "offline=" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_divergence_exits_1_with_the_fix(cli, tmp_path):
    result = cli.run("train", *SMALL, "--epochs", "2", "--no-plots", "--out", tmp_path / "run",
                     "--optimizer", "sgd", "--lr", "1e9")
    assert_clean_error(result, 1, "diverged", "lower the learning rate", "--lr")


# --- Ctrl-C ----------------------------------------------------------------------------------------


def test_ctrl_c_saves_a_resumable_checkpoint(cli, tmp_path):
    out = tmp_path / "run"
    proc = cli.popen("train", *SMALL, "--val-size", "0", "--epochs", "100000", "--no-plots", "--out", out)
    try:
        first = next((line for line in proc.stdout if line.startswith("epoch")), None)
        assert first is not None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and f"--resume {out}" in stderr and "Traceback" not in stderr
    _, meta = checkpoint.read(out / "model.npz")
    epoch = meta["epoch"]
    assert epoch >= 1 and len(meta["history"]) == epoch
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    result = cli.run("train", "--resume", out, "--epochs", epoch + 1)
    assert result.returncode == 0, result.stderr
    assert [r["epoch"] for r in read_json(out / "metrics.json")["epochs"]] == list(range(1, epoch + 2))
    assert checkpoint.read(out / "model.npz")[1]["epoch"] == epoch + 1


# --- evaluate and predict --------------------------------------------------------------------------


def test_evaluate_reproduces_the_test_accuracy(cli, base):
    out, _ = base
    result = cli.run("evaluate", out)
    assert result.returncode == 0, result.stderr
    test = read_json(out / "metrics.json")["test"]
    assert f"test accuracy {100 * test['accuracy']:.2f}%" in result.stdout
    assert f"test loss {test['loss']:.4f}" in result.stdout
    lines = result.stdout.splitlines()
    top = lines.index(next(line for line in lines if line.startswith("class")))
    per_class = [line.split() for line in lines[top + 1 : top + 11]]
    assert [row[0] for row in per_class] == [str(d) for d in range(10)]
    assert sum(int(row[1]) for row in per_class) == 500
    top = lines.index(next(line for line in lines if line.startswith("true\\pred")))
    confusion = np.array([[int(v) for v in line.split()] for line in lines[top + 1 : top + 11]])
    assert confusion.shape == (10, 11) and list(confusion[:, 0]) == list(range(10))
    counts = confusion[:, 1:]
    assert counts.sum() == 500
    assert np.trace(counts) / 500 == pytest.approx(test["accuracy"])


def test_evaluate_on_a_broken_run(cli, tmp_path):
    result = cli.run("evaluate", tmp_path)
    assert_clean_error(result, 2, str(tmp_path), "without model.npz", "run directory")
    # the hint's two choices both work: the run directory, or its model.npz
    assert "point to the model.npz" not in result.stderr


@pytest.fixture(scope="module")
def digit_files(cli):
    """Two real MNIST test digits as 140x140 image files: white-on-black PNG, black-on-white JPEG."""
    with gzip.open(cli.mnist / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    png, jpg = cli.home / "digit a.png", cli.home / "digit_b.jpg"
    Image.fromarray(images[0]).resize((140, 140), Image.BILINEAR).save(png)
    Image.fromarray(255 - images[1]).resize((140, 140), Image.BILINEAR).convert("RGB").save(jpg, quality=95)
    return png, jpg


def test_predict_names_each_file_and_a_digit(cli, base, digit_files):
    out, _ = base
    result = cli.run("predict", out, *digit_files, data=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    params, _ = checkpoint.load_params(out / "model.npz")
    for path, line in zip(digit_files, lines):
        match = re.fullmatch(re.escape(str(path)) + r": (\d)  \(p=(\d\.\d{3}); top 3 .*\)", line)
        assert match, line
        # the same answer as the library on the same preprocessed image
        probs, _ = nf.forward(params, load_image(path))
        assert int(match.group(1)) == int(probs[0].argmax())
        assert match.group(2) == f"{probs[0].max():.3f}"


def test_predict_refuses_a_non_image(cli, base, digit_files, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = cli.run("predict", base[0], digit_files[0], text, data=False)
    assert_clean_error(result, 2, str(text), "cannot read it as an image")
    assert result.stdout == ""


def test_predict_with_a_corrupt_model(cli, base, digit_files, tmp_path):
    data = (base[0] / "model.npz").read_bytes()
    (tmp_path / "model.npz").write_bytes(data[: len(data) // 2])
    result = cli.run("predict", tmp_path, digit_files[0], data=False)
    assert_clean_error(result, 2, str(tmp_path / "model.npz"), "corrupt or truncated")


# --- options -------------------------------------------------------------------------------------


def test_gradcheck_report_comes_before_training(cli, tmp_path):
    result = train(cli, tmp_path / "run", "--epochs", "1", "--no-plots", "--gradcheck")
    lines = result.stdout.splitlines()
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch"))
    rows = {line.split()[0] for line in lines[:first_epoch] if line.strip()}
    assert {"W1", "b1", "W2", "b2", "x"} <= rows
    assert any(line.startswith("OK") for line in lines[:first_epoch])


def test_quiet_prints_only_the_result(cli, tmp_path):
    result = train(cli, tmp_path / "run", "--epochs", "1", "--no-plots", "--quiet")
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy")
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == [".lock", "config.json", "metrics.csv", "metrics.json", "model.npz"]


@pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(), reason="no Fashion-MNIST files")
def test_fashion_mnist_from_the_system_directory(cli, tmp_path):
    out = tmp_path / "run"
    result = cli.run("train", "--dataset", "fashion-mnist", "--train-size", "1000", "--test-size", "200",
                     "--val-size", "100", "--hidden", "8", "--epochs", "1", "--out", out, data=False)
    assert result.returncode == 0, result.stderr
    assert str(FASHION_DIR) in result.stdout
    assert read_json(out / "config.json")["dataset"] == "fashion-mnist"
    assert checkpoint.read(out / "model.npz")[1]["dataset"] == "fashion-mnist"
    assert 0 <= read_json(out / "metrics.json")["test"]["accuracy"] <= 1
    assert (out / "confusion.png").read_bytes()[:8] == PNG_MAGIC


# --- a run remembers its data; nnfunc.save files work everywhere --------------------------------------


def test_later_commands_need_no_data_dir(cli, base, digit_files):
    out, _ = base
    assert read_json(out / "config.json")["data_source"] == str(cli.mnist)
    evaluated = cli.run("evaluate", out, data=False)  # no --data-dir, no NNFUNC_DATA_DIR, offline
    assert evaluated.returncode == 0, evaluated.stderr
    test = read_json(out / "metrics.json")["test"]
    assert f"test accuracy {100 * test['accuracy']:.2f}%" in evaluated.stdout
    by_file = cli.run("evaluate", out / "model.npz", data=False)
    assert by_file.returncode == 0 and by_file.stdout.splitlines()[1] == evaluated.stdout.splitlines()[1]


def test_resume_needs_no_data_dir_and_accepts_the_model_file(cli, tmp_path):
    out = tmp_path / "run"
    train(cli, out, "--epochs", "1", "--decay-epochs", "2", "--no-plots", "--quiet")
    result = cli.run("train", "--resume", out / "model.npz", "--epochs", "2", "--quiet", data=False)
    assert result.returncode == 0, result.stderr
    assert [r["epoch"] for r in read_json(out / "metrics.json")["epochs"]] == [1, 2]


def test_a_saved_model_file_works_with_predict_and_evaluate(cli, base, digit_files, tmp_path):
    model = nf.load(base[0])
    path = nf.save(tmp_path / "digits.npz", model.params, activation=model.activation)
    predicted = cli.run("predict", path, *digit_files, data=False)
    from_run = cli.run("predict", base[0], *digit_files, data=False)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout == from_run.stdout
    no_dataset = cli.run("evaluate", path, data=False)
    assert_clean_error(no_dataset, 2, str(path), "--dataset")
    evaluated = cli.run("evaluate", path, "--dataset", "mnist")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "10000 examples" in evaluated.stdout  # the whole test set: a model file has no run config


@pytest.mark.parametrize("args, words", [
    (["--epochs", "2"], ["already trained 2 epochs", "--epochs above 2"]),
    (["--epochs", "4"], ["learning rate is 0 from epoch 3 on", "finished its schedule", "new run with --epochs 4"]),
    (["--epochs", "4", "--lr", "0.1"], ["keeps the run's own settings", "drop --lr"]),
    (["--epochs", "4", "--out", "elsewhere"], ["learning rate is 0 from epoch 3 on"]),
])
def test_resume_that_would_change_nothing_is_refused(cli, base, tmp_path, args, words):
    run = tmp_path / "run"
    shutil.copytree(base[0], run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"}
    result = cli.run("train", "--resume", run, *args)
    assert_clean_error(result, 2, *words)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"} == before
    assert not (cli.home / "elsewhere").exists() and not (tmp_path / "elsewhere").exists()


def test_a_moved_data_directory_falls_back_and_is_named(cli, tmp_path):
    copy = tmp_path / "mnist-copy"
    shutil.copytree(cli.mnist, copy)
    out = tmp_path / "run"
    result = cli.run("train", *SMALL, "--epochs", "1", "--no-plots", "--quiet", "--out", out, "--data-dir", copy,
                     data=False)
    assert result.returncode == 0, result.stderr
    shutil.rmtree(copy)
    lost = cli.run("evaluate", out, data=False)
    assert_clean_error(lost, 2, "1. the run's recorded data directory: " + str(copy), "--data-dir DIR")
    found = cli.run("evaluate", out)  # --data-dir points at the files' new place
    assert found.returncode == 0, found.stderr


def test_resume_past_the_cosine_end_says_how_far_it_can_go(cli, tmp_path):
    out = tmp_path / "run"
    train(cli, out, "--epochs", "1", "--decay-epochs", "2", "--no-plots", "--quiet")
    refused = cli.run("train", "--resume", out, "--epochs", "4")
    assert_clean_error(refused, 2, "learning rate is 0 from epoch 3 on", "Resume with --epochs 2 at most")
    followed = cli.run("train", "--resume", out, "--epochs", "2", "--quiet")  # the hint works
    assert followed.returncode == 0, followed.stderr


def test_an_unwritable_out_is_a_message_not_a_traceback(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = cli.run("train", *SMALL, "--epochs", "1", "--no-plots", "--out", blocker / "run")
    assert_clean_error(result, 2, str(blocker / "run"), "a file stands where a directory is needed")


def test_a_relative_data_dir_is_recorded_absolute(cli, tmp_path):
    link = cli.home / "data-link"
    if not link.exists():
        link.symlink_to(cli.mnist, target_is_directory=True)
    out = tmp_path / "run"
    result = cli.run("train", *SMALL, "--epochs", "1", "--no-plots", "--quiet", "--out", out, "--data-dir",
                     "data-link", data=False)
    assert result.returncode == 0, result.stderr
    assert read_json(out / "config.json")["data_source"] == str(link)  # absolute, the link kept as given
