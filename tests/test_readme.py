"""README stays true: its Python blocks run as written, and CI reads its test command."""

import gzip
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from tests.helpers import installed, needs_sweep_extra

README = (REPO / "README.md").read_text()


def python_blocks(section):
    """The ```python blocks of the README section whose heading is ``section``."""
    body = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", README, flags=re.S | re.M)
    assert body, f"README lost its section {section!r}"
    return re.findall(r"```python\n(.*?)```", body.group(1), flags=re.S)


def test_every_python_block_is_run_by_a_test():
    tested = python_blocks("A short tour") + python_blocks("Training from Python") + python_blocks(
        "Use a trained model in Python") + python_blocks(
        "scikit-learn: replace the import line") + python_blocks("ONNX: export for onnxruntime")
    assert sorted(tested) == sorted(re.findall(r"```python\n(.*?)```", README, flags=re.S))


def test_api_tour_runs_as_written():
    blocks = python_blocks("A short tour")
    assert blocks, "README lost its python tour"
    out = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "OK: max relative error" in out.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_path):
    """A directory holding a small real run in runs/RUN, and its environment (MNIST found through NNFUNC_DATA_DIR)."""
    home = tmp_path_factory.mktemp("readme")
    env = {**os.environ, "MPLCONFIGDIR": str(home / "mpl"), "XDG_CACHE_HOME": str(home / "cache"),
           "NNFUNC_DATA_DIR": str(mnist_path)}
    train = subprocess.run([sys.executable, "-m", "nnfunc", "train", "--train-size", "3000", "--val-size", "300",
                            "--test-size", "500", "--epochs", "2", "--no-plots", "--quiet", "--out", "runs/RUN"],
                           cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr
    return home, env


def run_block(block, cwd, env):
    out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_training_from_python_runs_as_written(tmp_path, mnist_path):
    (block,) = python_blocks("Training from Python")
    env = {**os.environ, "NNFUNC_DATA_DIR": str(mnist_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    lines = run_block(block, tmp_path, env).splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["epoch 1", "epoch 2", "epoch 3"], lines
    assert re.fullmatch(r"test accuracy 0\.9\d\d; runs/from-python resumes with --resume like any run", lines[3])
    assert (tmp_path / "runs" / "from-python" / "model.npz").is_file() and len(lines) == 4


@pytest.mark.slow
def test_trained_model_snippet_runs_as_written(trained, mnist_path):
    """Draw a real test digit into digit.png beside runs/RUN, run the block there."""
    (block,) = python_blocks("Use a trained model in Python")
    home, env = trained
    with gzip.open(mnist_path / "t10k-images-idx3-ubyte.gz") as f:
        digit = np.frombuffer(f.read(), dtype=np.uint8, offset=16)[:784].reshape(28, 28)  # a 7
    Image.fromarray(255 - digit).resize((112, 112)).save(home / "digit.png")  # dark ink on paper
    assert run_block(block, home, env).strip() == "digit.png is 7"
    assert (home / "digits.npz").is_file()


@pytest.mark.slow
def test_scikit_learn_snippet_runs_as_written_with_either_import(tmp_path, mnist_path):
    require_extra_here("sklearn", "sklearn")
    (block,) = python_blocks("scikit-learn: replace the import line")
    ours = "from nnfunc.sklearn import MLPClassifier"
    assert block.count(ours) == 1
    env = {**os.environ, "NNFUNC_DATA_DIR": str(mnist_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    printed = [run_block(code, tmp_path, env) for code in
               (block, block.replace(ours, "from sklearn.neural_network import MLPClassifier"))]
    for out in printed:
        assert re.fullmatch(r"\{'hidden_layer_sizes': \((64|128),\), 'learning_rate_init': 0\.00[13]\} "
                            r"test accuracy 0\.9[2-9]\d\n", out), out
    # the same script, the same starting weights and batches: the same choice, float32 rounding apart
    assert printed[0].split("}")[0] == printed[1].split("}")[0], printed
    accuracy = [float(out.split()[-1]) for out in printed]
    assert abs(accuracy[0] - accuracy[1]) <= 0.003, printed


@pytest.mark.slow
def test_onnx_snippet_runs_as_written(trained):
    require_extra_here("onnx", "onnx", "onnxruntime")
    (block,) = python_blocks("ONNX: export for onnxruntime")
    home, env = trained
    assert run_block(block, home, env) == "onnxruntime agrees with nnfunc on all 10000 test digits\n"
    assert (home / "digits.onnx").is_file()


def require_extra_here(extra, *modules):
    if os.environ.get("NNFUNC_REQUIRE_EXTRAS") != "1" and not installed(*modules):
        pytest.skip(f"the [{extra}] extra is not installed: pip install -e '.[{extra}]'")


def test_ci_runs_the_readme_test_command():
    marked = re.findall(r"<!-- test-command -->\n```\n(.*?)\n```\n<!-- /test-command -->", README, flags=re.S)
    assert len(marked) == 1 and marked[0].startswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and 'eval "$cmd"' in ci


def test_first_command_installs_and_trains():
    assert 'pip install -e ".[dev,fast]" && python -m nnfunc.train' in README


@pytest.mark.parametrize("command", sorted(set(re.findall(r"^(nnfunc [a-z]+)", README, flags=re.M))))
def test_every_documented_command_exists(command):
    from nnfunc.cli import COMMANDS

    assert command.split()[1] in COMMANDS


TRAIN_COMMANDS = sorted(set(re.findall(r"`(python -m nnfunc\.train [^`]+)`", README)))


@pytest.mark.parametrize("command", TRAIN_COMMANDS)
def test_every_documented_training_command_is_a_valid_run(command):
    """Each recipe in README parses and passes every check a run makes before it writes a file."""
    import shlex

    from nnfunc.training.flags import build_parser, settings_of
    from nnfunc.training.settings import make_config

    argv = shlex.split(command)[3:]
    config = make_config(settings_of(build_parser().parse_args(argv)))
    flags = {a.lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    assert flags <= set(config)  # every flag it shows is a setting the run records


def test_readme_shows_the_augmented_recipe():
    assert any("--augment elastic+affine" in c for c in TRAIN_COMMANDS)


SWEEP_COMMANDS = sorted(set(re.findall(r"^(nnfunc sweep .+?)(?:\s+# .*)?$", README, flags=re.M)))


def test_readme_shows_a_sweep_after_installing_its_extra():
    example = re.search(r"<!-- sweep-example -->\n```\n(.*?)\n```\n<!-- /sweep-example -->", README, flags=re.S)
    assert example, "README lost its sweep example"
    install, command = example.group(1).splitlines()
    assert install == 'pip install -e ".[sweep]"' and command in SWEEP_COMMANDS
    assert any("--scheduler tcp://" in c for c in SWEEP_COMMANDS)


@needs_sweep_extra
@pytest.mark.parametrize("command", SWEEP_COMMANDS)
def test_every_documented_sweep_is_a_valid_plan(command):
    """Each sweep in README passes every check a sweep makes before a worker starts."""
    import shlex

    from nnfunc.cli.sweep import build_parser, plan, split_argv

    own, fixed = split_argv(shlex.split(command)[2:])
    space, _, spec = plan(build_parser().parse_args(own), fixed)
    assert spec["search"] and set(space) == set(spec["search"])


@needs_sweep_extra
def test_the_documented_space_file_is_a_valid_space(tmp_path):
    from nnfunc.sweep import space as S

    block = re.search(r"```\n(\[search\]\n.*?)```", README, flags=re.S)
    assert block, "README lost its search space file"
    (tmp_path / "space.toml").write_text(block.group(1))
    space, fixed = S.read_file(tmp_path / "space.toml")
    assert {"lr", "hidden", "dropout"} <= set(space) and "--epochs" in fixed
    S.check(space, fixed)
