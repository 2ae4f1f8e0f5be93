"""Run directories under faults and careless hands: one writer, branches, edits, hostile checkpoints, OS errors.

Every case runs the real command line in a subprocess on a small subset of
real MNIST and asserts the two halves of the promise: a clear one-paragraph
error (exit 2, no traceback) or the correct result, and nothing lost (the
files a run had are byte for byte what they were).
"""

import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

import nnfunc as nf
from nnfunc.training import checkpoint
from tests.helpers import assert_bit_identical
from tests.test_cli import SMALL, assert_clean_error, train

QUICK = ["--no-plots", "--quiet"]
SETPRIV = shutil.which("setpriv")


def files_of(run):
    """{name: bytes} of a run directory, its lock file aside (a refused command may rewrite who held it)."""
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.name != ".lock" and p.is_file()}


@pytest.fixture(scope="module")
def run2(cli):
    """A 2-epoch run whose schedule decays over 4 epochs, so it can be resumed."""
    out = cli.home / "run2"
    train(cli, out, "--epochs", "2", "--decay-epochs", "4", *QUICK)
    return out


@pytest.fixture
def copy(run2, tmp_path):
    """A private copy of ``run2`` to damage."""
    run = tmp_path / "run"
    shutil.copytree(run2, run)
    return run


def unprivileged(argv):
    """argv run as root without the capabilities that override file permissions (skip if impossible)."""
    if os.geteuid() != 0:
        return argv
    if SETPRIV is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    caps = "-dac_override,-dac_read_search"
    return [SETPRIV, f"--inh-caps={caps}", f"--bounding-set={caps}", *argv]


# --- one writer at a time -------------------------------------------------------------------------


def wait_for(path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_run_directory_has_one_writer_and_the_os_frees_it(cli, tmp_path):
    out = tmp_path / "busy"
    first = cli.popen("train", *SMALL, "--epochs", "1000", *QUICK, "--out", out)
    try:
        wait_for(out / "model.npz", first)
        second = cli.run("train", *SMALL, "--epochs", "2", *QUICK, "--out", out)
        assert_clean_error(second, 2, f"{out} is in use by pid {first.pid}", "pick another --out")
        resumed = cli.run("train", "--resume", out, "--epochs", "2000", "--quiet")
        assert_clean_error(resumed, 2, f"is in use by pid {first.pid}")
        # reading a run that is being written needs no lock: a branch reads its last checkpoint
        branched = cli.run("train", "--resume", out, "--epochs", "1", "--quiet", "--out", tmp_path / "branch")
        assert branched.returncode == 0 or "already trained" in branched.stderr, branched.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    # SIGKILL runs no cleanup: the OS released the lock, and the last checkpoint is whole
    epoch = checkpoint.read(out / "model.npz")[1]["epoch"]
    more = cli.run("train", "--resume", out, "--epochs", str(epoch + 1), "--quiet")
    assert more.returncode == 0, more.stderr
    assert checkpoint.read(out / "model.npz")[1]["epoch"] == epoch + 1


def test_temp_files_a_killed_writer_left_are_cleared_and_only_those(cli, copy):
    theirs = [copy / ".model.npz.k3j_x9a2.tmp", copy / ".metrics.json.ab12cd34.tmp", copy / ".loss.png.zzzzzzzz.tmp"]
    others = [copy / ".notes.txt.ab12cd34.tmp", copy / "model.npz.tmp", copy / "mine.tmp"]
    for path in theirs + others:
        path.write_bytes(b"x" * 1000)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in theirs)
    assert all(p.read_bytes() == b"x" * 1000 for p in others)


def test_a_refused_new_run_leaves_no_directory(cli, run2, tmp_path):
    out = tmp_path / "never"
    result = cli.run("train", "--resume", run2, "--epochs", "2", "--quiet", "--out", out)
    assert_clean_error(result, 2, "already trained 2 epochs")
    assert not out.exists()


# --- resume elsewhere: a branch, never a silent redirect --------------------------------------------


def test_resume_into_another_directory_branches_and_equals_one_run(cli, run2, tmp_path):
    before = files_of(run2)
    branch, straight = tmp_path / "branch", tmp_path / "straight"
    result = cli.run("train", "--resume", run2, "--epochs", "3", "--out", branch, "--quiet")
    assert result.returncode == 0, result.stderr
    assert files_of(run2) == before  # the source run is untouched
    config = json.loads((branch / "config.json").read_text())
    assert config["branched_from"] == f"{run2.absolute()} at epoch 2"
    train(cli, straight, "--epochs", "3", "--decay-epochs", "4", *QUICK)
    a, b = checkpoint.read(branch / "model.npz")[0], checkpoint.read(straight / "model.npz")[0]
    assert_bit_identical({k: v for k, v in a.items() if k != "meta"}, {k: v for k, v in b.items() if k != "meta"})
    history = json.loads((branch / "metrics.json").read_text())["epochs"]
    assert [r["epoch"] for r in history] == [1, 2, 3]


def test_a_branch_never_overwrites_a_run(cli, run2, tmp_path):
    target = tmp_path / "target"
    shutil.copytree(run2, target)
    before = files_of(target)
    result = cli.run("train", "--resume", run2, "--epochs", "3", "--out", target, "--quiet")
    assert_clean_error(result, 2, f"{target} already holds a model.npz")
    assert files_of(target) == before


# --- configs read back from disk -------------------------------------------------------------------


def edit_config(run, **changes):
    config = json.loads((run / "config.json").read_text())
    for key, value in changes.items():
        if value is KeyError:
            del config[key]
        else:
            config[key] = value
    (run / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("changes, words", [
    ({"lr": "0.1"}, ["'lr'", "config.json differs", "Undo the edit"]),
    ({"hidden": 16}, ["'hidden'", "differs"]),
    ({"epochs": 9, "lr": 0.5}, ["'lr' is 0.5 there"]),
    ({"l2": KeyError}, ["'l2' is missing there"]),
])
def test_a_hand_edited_config_is_named_not_obeyed(cli, copy, changes, words):
    edit_config(copy, **changes)
    before = files_of(copy)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, *words)
    assert files_of(copy) == before


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "", "\xff\xfe", "[" * 100_000])
def test_a_damaged_config_json_is_an_error_that_says_how_to_recover(cli, copy, text):
    (copy / "config.json").write_bytes(text.encode("latin-1"))
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, "config.json", "delete it and --resume rewrites it")
    assert len(result.stderr) < 1000
    (copy / "config.json").unlink()  # the fix works
    assert cli.run("train", "--resume", copy, "--epochs", "3", "--quiet").returncode == 0


def test_a_lost_config_json_is_rewritten_from_the_checkpoint(cli, copy):
    saved = json.loads((copy / "config.json").read_text())
    (copy / "config.json").unlink()
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    rewritten = json.loads((copy / "config.json").read_text())
    assert [r["epoch"] for r in rewritten.pop("resumed")] == [2]  # what computed the new epochs
    assert rewritten == {**saved, "epochs": 3}


AUGMENT_KEYS = ("augment", "rotate", "scale", "shear", "shift", "elastic_alpha", "elastic_sigma")


def test_a_run_from_before_augmentation_resumes_as_one_run(cli, copy, tmp_path):
    """0.2 wrote no augment settings and two RNG streams; such a run resumes unaugmented, bit for bit."""
    arrays, meta = checkpoint.read(copy / "model.npz")
    meta["config"] = {k: v for k, v in meta["config"].items() if k not in AUGMENT_KEYS}
    del meta["rng_states"]["augment"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(copy / "model.npz", **arrays)
    edit_config(copy, **dict.fromkeys(AUGMENT_KEYS, KeyError))
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    straight = tmp_path / "straight"
    train(cli, straight, "--epochs", "3", "--decay-epochs", "4", *QUICK)
    (a, meta_a), (b, meta_b) = checkpoint.read(copy / "model.npz"), checkpoint.read(straight / "model.npz")
    assert_bit_identical({k: v for k, v in a.items() if k != "meta"}, {k: v for k, v in b.items() if k != "meta"})
    assert meta_a["rng_states"] == meta_b["rng_states"]  # the rebuilt augment stream is the seed's own
    assert json.loads((copy / "config.json").read_text())["augment"] == "none"


def rewrite_checkpoint(path, **meta_changes):
    arrays, meta = checkpoint.read(path)
    for key, value in meta_changes.items():
        meta["config"][key] = value
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("key, value", [("lr", "abc"), ("hidden", 16), ("optimizer", "adamax"), ("seed", -1),
                                        ("warmup_epochs", None), ("dtype", "float16"), ("epochs", True)])
def test_a_damaged_config_inside_the_checkpoint_is_named(cli, copy, key, value):
    rewrite_checkpoint(copy / "model.npz", **{key: value})
    (copy / "config.json").unlink()
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, "model.npz has a bad run config", f"key {key!r}")


@pytest.mark.parametrize("key, value", [("test_size", "all"), ("l2", -1), ("data_source", 3)])
def test_evaluate_checks_the_settings_it_reads(cli, copy, key, value):
    rewrite_checkpoint(copy / "model.npz", **{key: value})
    result = cli.run("evaluate", copy)
    assert_clean_error(result, 2, "damaged run config", f"'{key}'")


# --- hostile checkpoints: bounded work, no silent NaN ----------------------------------------------


def limited(mb):
    """preexec_fn: cap the child's address space, so a file that costs memory fails instead of the machine."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    return cap


def run_limited(cli, name, *args, mb=1500):
    argv = [sys.executable, "-m", "nnfunc", name, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, env=cli.env, cwd=cli.home, timeout=120,
                          preexec_fn=limited(mb))


def test_a_decompression_bomb_checkpoint_costs_nothing(cli, copy):
    path = copy / "model.npz"
    arrays, _ = checkpoint.read(path)
    arrays["params/W1"] = np.zeros((784, 500_000), np.float32)  # 1.5 GB of zeros
    sizes = [784, 500_000, 16, 10]  # a meta record that agrees with it
    meta = json.loads(str(arrays["meta"]))
    meta["sizes"] = sizes
    arrays["meta"] = np.array(json.dumps(meta))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, value)
    assert path.stat().st_size < 4 << 20
    for command in (["evaluate", copy], ["predict", copy, path], ["train", "--resume", copy, "--epochs", "3"]):
        result = run_limited(cli, *command, mb=1000)
        assert_clean_error(result, 2, "would inflate from")


def write_member(path, name, header_shape, data=b""):
    """Replace one array of an .npz with a header claiming ``header_shape`` float32 and ``data`` after it."""
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
    header["shape"] = header_shape
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    members[name + ".npy"] = buf.getvalue() + data
    with zipfile.ZipFile(path, "w") as zf:
        for member, content in members.items():
            zf.writestr(member, content)


@pytest.mark.parametrize("shape, words", [((10**12,), "does not fit"), ((784, 16), "does not fit"),
                                           ((10**6, 10**6), "does not fit"), ((10**200, 10**200), "does not fit"),
                                           ((10**400,), "characters)"), ((-4, 4), "does not fit")])
def test_an_array_header_that_lies_is_refused_before_its_data(cli, copy, shape, words):
    write_member(copy / "model.npz", "params/b1", shape, b"\0" * 64)
    result = run_limited(cli, "evaluate", copy, mb=1000)
    assert_clean_error(result, 2, "params/b1", words)


def test_an_unexpected_array_is_refused(cli, copy):
    arrays, _ = checkpoint.read(copy / "model.npz")
    np.savez(copy / "model.npz", **arrays, extra=np.zeros(10, np.float32))
    result = cli.run("evaluate", copy)
    assert_clean_error(result, 2, "'extra'", "does not have")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_everywhere(cli, copy, tmp_path, bad):
    arrays, _ = checkpoint.read(copy / "model.npz")
    for key in ("params/W2", "best/W2"):
        arrays[key][3, 1] = bad
    np.savez(copy / "model.npz", **arrays)
    with pytest.raises(nf.CheckpointError, match="NaN or inf in (best|params)/W2"):
        nf.load(copy)
    image = tmp_path / "digit.png"
    Image.fromarray(np.pad(np.full((12, 4), 255, np.uint8), 8)).save(image)
    for command in (["evaluate", copy], ["predict", copy, image], ["train", "--resume", copy, "--epochs", "3"]):
        result = cli.run(*command) if command[0] != "predict" else cli.run(*command, data=False)
        assert_clean_error(result, 2, "NaN or inf", "diverged")
        assert "p=nan" not in result.stdout


# --- the operating system says no ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["/dev/full", "file", "file/run", "/proc/self/run"])
def test_an_out_that_cannot_be_a_run_directory(cli, tmp_path, where):
    (tmp_path / "file").write_text("mine")
    out = where if where.startswith("/") else tmp_path / where
    result = cli.run("train", *SMALL, "--epochs", "1", *QUICK, "--out", out)
    assert_clean_error(result, 2, str(out))
    assert (tmp_path / "file").read_text() == "mine"


def test_metrics_json_that_is_a_directory(cli, copy):
    model = (copy / "model.npz").read_bytes()
    (copy / "metrics.json").unlink()
    (copy / "metrics.json").mkdir()
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, "metrics.json", "a directory stands where a file is needed")
    assert checkpoint.read(copy / "model.npz")[1]["epoch"] in (2, 3)
    assert (copy / "model.npz").read_bytes() == model or checkpoint.read(copy / "model.npz")[1]["epoch"] == 3


def test_a_parent_that_is_not_writable(cli, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    argv = unprivileged([sys.executable, "-m", "nnfunc", "train", *SMALL, "--epochs", "1", *QUICK,
                         "--out", str(parent / "run"), "--data-dir", str(cli.mnist)])
    result = subprocess.run(argv, capture_output=True, text=True, env=cli.env, cwd=cli.home, timeout=300)
    assert_clean_error(result, 2, "Permission denied", str(parent / "run"), "permissions")


def test_a_read_only_run_keeps_its_files_on_resume(cli, copy):
    before = files_of(copy)
    for path in (copy, *copy.iterdir()):
        path.chmod(0o555 if path.is_dir() else 0o444)
    argv = unprivileged([sys.executable, "-m", "nnfunc", "train", "--resume", str(copy), "--epochs", "3",
                         "--quiet", "--data-dir", str(cli.mnist)])
    result = subprocess.run(argv, capture_output=True, text=True, env=cli.env, cwd=cli.home, timeout=300)
    assert_clean_error(result, 2, "Permission denied", "permissions")
    copy.chmod(0o755)
    assert files_of(copy) == before


def test_a_full_disk_is_a_message_and_keeps_the_last_checkpoint(cli, run2, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    model = (run2 / "model.npz").read_bytes()
    # a private mount namespace and a tmpfs just big enough for the run, not for a second checkpoint beside it
    size = len(model) + 48 * 1024
    script = (f"mount -t tmpfs -o size={size} tmpfs {mount} && cp -a {run2} {mount}/run && "
              f"{sys.executable} -m nnfunc train --resume {mount}/run --epochs 4 --quiet --data-dir {cli.mnist}; "
              f"echo exit=$?; sha256sum {mount}/run/model.npz")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=cli.env,
                            cwd=cli.home, timeout=300)
    if "exit=" not in result.stdout:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip()}")
    assert "exit=2" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr and "free some disk space" in result.stderr
    assert f"{mount}/run/" in result.stderr  # which file could not be written
    assert hashlib.sha256(model).hexdigest() in result.stdout  # the old checkpoint, whole


@pytest.mark.parametrize("command", [["evaluate", "RUN"], ["predict", "RUN", "IMAGE"], ["train", "--resume", "RUN",
                                                                                        "--epochs", "3"]])
def test_an_unreadable_run_is_a_message(cli, copy, tmp_path, command):
    image = tmp_path / "digit.png"
    Image.fromarray(np.pad(np.full((12, 4), 255, np.uint8), 8)).save(image)
    copy.chmod(0o000)
    argv = [str({"RUN": copy, "IMAGE": image}.get(word, word)) for word in command]
    try:
        result = subprocess.run(unprivileged([sys.executable, "-m", "nnfunc", *argv, "--data-dir", str(cli.mnist)]
                                             if command[0] != "predict" else
                                             [sys.executable, "-m", "nnfunc", *argv]),
                                capture_output=True, text=True, env=cli.env, cwd=cli.home, timeout=300)
    finally:
        copy.chmod(0o755)
    assert_clean_error(result, 2, "Permission denied", str(copy))


def test_a_flipped_byte_in_the_weights_is_caught(cli, copy):
    path = copy / "model.npz"
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("params/W1.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0x10  # inside W1's data
    path.write_bytes(bytes(data))
    result = cli.run("evaluate", copy)
    assert_clean_error(result, 2, "params/W1", "CRC")


def rewrite_meta(path, **changes):
    arrays, meta = checkpoint.read(path)
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("changes", [{"epoch": -1}, {"step": "10"}, {"bad_epochs": 1.5}, {"best_val_loss": "low"},
                                     {"opt_fields": 5}, {"opt_fields": {"count": "list"}},
                                     {"history": [{"epoch": 1}]}, {"rng_states": {"batches": {}}},
                                     {"rng_states": {"batches": {"state": 5}, "dropout": {"state": 5}}}])
def test_damaged_progress_in_the_checkpoint_is_named(cli, copy, changes):
    rewrite_meta(copy / "model.npz", **changes)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, "damaged meta record", next(iter(changes)))


def test_deeply_nested_json_is_an_error_not_a_recursion(cli, copy):
    deep = "[" * 100_000 + "]" * 100_000
    (copy / "config.json").write_text(deep)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, "config.json")
    arrays, _ = checkpoint.read(copy / "model.npz")
    arrays["meta"] = np.array(deep)
    np.savez(copy / "model.npz", **arrays)
    result = cli.run("evaluate", copy)
    assert_clean_error(result, 2, "corrupt meta record")


@pytest.mark.parametrize("lock", ["symlink", "directory", "fifo"])
def test_a_lock_file_that_is_not_a_file_is_never_written_through(cli, tmp_path, lock):
    out, victim = tmp_path / "run", tmp_path / "victim"
    out.mkdir()
    victim.write_text("keep")
    if lock == "symlink":
        (out / ".lock").symlink_to(victim)
    elif lock == "directory":
        (out / ".lock").mkdir()
    else:
        os.mkfifo(out / ".lock")
    result = cli.run("train", *SMALL, "--epochs", "1", *QUICK, "--out", out)
    assert_clean_error(result, 2, ".lock")
    assert victim.read_text() == "keep" and not (out / "model.npz").exists()


def test_saving_over_a_device_is_refused_and_a_pipe_is_replaced(tmp_path):
    if os.geteuid() == 0:  # only root could replace the device node; nobody may
        with pytest.raises(FileExistsError, match="a character device is there, not a file"):
            nf.save("/dev/full", nf.init((4, 2), 0), activation="relu")
        assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")
    os.mkfifo(tmp_path / "pipe")
    nf.save(tmp_path / "pipe", nf.init((4, 2), 0), activation="relu")  # no hang: the pipe is replaced
    assert nf.load(tmp_path / "pipe").activation == "relu"


def rewrite_arrays(path, **arrays_changes):
    arrays, _ = checkpoint.read(path)
    arrays.update(arrays_changes)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, words", [
    ({"opt/count": np.array(2**64 - 1, np.uint64)}, "'opt/count'"),
    ({"opt/count": np.array(3, np.int64)}, "opt/count 3 but the run has taken"),
    ({"opt/nu/W1": np.full((784, 16), -1.0, np.float32)}, "opt/nu/W1 holds negative values"),
])
def test_damaged_optimizer_state_is_refused_at_load(cli, copy, change, words):
    rewrite_arrays(copy / "model.npz", **change)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2, words)


def test_a_step_count_that_does_not_fit_the_epochs_is_refused(cli, copy):
    arrays, meta = checkpoint.read(copy / "model.npz")
    meta["step"] = 10**30
    arrays["meta"], arrays["opt/count"] = np.array(json.dumps(meta)), np.array(0, np.int64)
    np.savez(copy / "model.npz", **arrays)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert_clean_error(result, 2)  # a count, or the steps of its epochs: either names the damage
    assert "damaged" in result.stderr


def test_a_resume_that_diverges_keeps_the_last_good_checkpoint(cli, copy):
    arrays, _ = checkpoint.read(copy / "model.npz")
    arrays["params/W1"][0, 0] = 3e38  # finite, so it loads; the first update overflows
    np.savez(copy / "model.npz", **arrays)
    before = files_of(copy)
    result = cli.run("train", "--resume", copy, "--epochs", "3", "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "diverged" in result.stderr and "start a new run" in result.stderr and "epoch 2 is kept" in result.stderr
    assert files_of(copy) == before
    assert checkpoint.read(copy / "model.npz")[1]["epoch"] == 2


def test_fit_never_returns_a_non_finite_state():
    """Huge but finite weights: the epoch's losses or the optimizer's moments overflow; fit raises instead."""
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    params = nf.init((6, 5, 3), 0)
    params["W1"] = np.full_like(params["W1"], 1e30)
    opt = nf.adam(1e-3)
    data = nf.TrainData(x[:48], y[:48], x[48:], y[48:])
    with pytest.raises(nf.DivergenceError, match="diverged"):
        nf.fit(nf.start_fit(params, opt, 0), opt, data, nf.FitConfig(epochs=2, batch_size=16))


def test_messages_cut_a_huge_field_from_a_file(cli, copy):
    arrays, meta = checkpoint.read(copy / "model.npz")
    meta["kind"] = "x" * 20_000_000
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(copy / "model.npz", **arrays)
    result = cli.run("evaluate", copy)
    assert_clean_error(result, 2, "(20,000,000 characters)")  # the field, cut where the message is made
    assert len(result.stderr) < 2500


def test_an_unknown_dataset_in_the_file_is_named_with_the_file(cli, copy):
    rewrite_meta(copy / "model.npz", dataset="cifar")
    result = cli.run("evaluate", copy)
    assert_clean_error(result, 2, str(copy / "model.npz"), "'cifar'")


def test_save_refuses_what_load_would_refuse(tmp_path):
    params = nf.init((4, 3, 2), 0)
    params["b1"] = np.full_like(params["b1"], np.nan)
    with pytest.raises(nf.ParamsError, match=r"params\['b1'\] holds NaN or inf"):
        nf.save(tmp_path / "m.npz", params, activation="relu")
    assert not (tmp_path / "m.npz").exists()
    for path in (None, 123, ""):
        with pytest.raises(nf.CheckpointError, match="path must be a file or directory name"):
            nf.load(path)


def test_hidden_widths_are_a_list_of_integers(cli, tmp_path):
    for text in (",,", "16,,16", "1e3", "-1", "16;16"):
        result = cli.run("train", *SMALL[:-2], "--hidden", text, "--epochs", "1", *QUICK, "--out", tmp_path / "r")
        assert_clean_error(result, 2, "--hidden")
    assert not (tmp_path / "r").exists()


def test_gradcheck_out_of_memory_names_its_own_flags(cli):
    argv = [sys.executable, "-m", "nnfunc", "gradcheck", "--sizes", "4000,4000,4000", "--mode", "full"]
    result = subprocess.run(argv, capture_output=True, text=True, env=cli.env, timeout=120, preexec_fn=limited(900))
    assert_clean_error(result, 2, "out of memory", "--sizes")
    assert "--hidden" not in result.stderr


def test_warnings_print_as_one_line(cli, run2, tmp_path):
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("not a directory")
    env = {**cli.env, "XDG_CACHE_HOME": str(blocked)}
    argv = [sys.executable, "-m", "nnfunc", "evaluate", str(run2), "--data-dir", str(cli.mnist)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: could not write the array cache") and "UserWarning" not in result.stderr
