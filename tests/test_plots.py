"""Tests for nnfunc.report.curves and nnfunc.report.pictures: real, non-blank PNGs, headless, without pyplot, with text that fits."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from nnfunc.report import curves, pictures
from nnfunc.errors import InputError

from conftest import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGITS = [str(i) for i in range(10)]


def _history(n_epochs=5, with_val=True):
    return [
        {
            "epoch": e,
            "train_loss": 2.0 * 0.5**e,
            "train_accuracy": 1 - 0.4 * 0.6**e,
            "val_loss": 2.2 * 0.55**e if with_val else None,
            "val_accuracy": 1 - 0.45 * 0.62**e if with_val else None,
            "lr": 0.1,
            "seconds": 1.0,
        }
        for e in range(1, n_epochs + 1)
    ]


def _digits(k, rng):
    """(k, 784) float images: a bright random blob inside each 28x28 frame."""
    images = np.zeros((k, 28, 28))
    for img in images:
        r, c = rng.integers(6, 22, size=2)
        img[r - 4 : r + 4, c - 2 : c + 2] = rng.uniform(0.5, 1.0)
    return images.reshape(k, 784)


def _check_png(path, min_shape=(100, 100)):
    """Assert path is a PNG under 200 KB whose pixels are not all one colour."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 2_000 < len(data) < 200_000
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] >= min_shape[0] and pixels.shape[1] >= min_shape[1]
    assert pixels.var() > 0
    # More than a few colours: something beyond text was drawn.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10
    return pixels


def _assert_text_fits(fig, texts):
    """Assert the drawn, non-empty texts lie inside fig and none overlaps another."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text()]
    assert boxes
    for text, box in boxes:
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, f"{text!r} is clipped left or right: {box}"
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, f"{text!r} is clipped top or bottom: {box}"
    for a, (text_a, box_a) in enumerate(boxes):
        for text_b, box_b in boxes[a + 1 :]:
            assert not box_a.overlaps(box_b), f"{text_a!r} overlaps {text_b!r}"


def _no_temp_files(directory):
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("with_val", [True, False])
def test_plot_loss(tmp_path, with_val):
    path = curves.plot_loss(_history(with_val=with_val), tmp_path / "loss.png")
    assert path == tmp_path / "loss.png"
    _check_png(path)
    _no_temp_files(tmp_path)


def test_plot_loss_single_epoch(tmp_path):
    _check_png(curves.plot_loss(_history(1), tmp_path / "loss.png"))


@pytest.mark.parametrize("test", [None, 0.97, {"loss": 0.1, "accuracy": 0.97}])
def test_plot_accuracy(tmp_path, test):
    _check_png(curves.plot_accuracy(_history(), tmp_path / "acc.png", test=test))


def test_test_accuracy_line_changes_the_picture(tmp_path):
    without = _check_png(curves.plot_accuracy(_history(), tmp_path / "a.png"))
    with_test = _check_png(curves.plot_accuracy(_history(), tmp_path / "b.png", test=0.9))
    assert without.shape == with_test.shape
    assert not np.array_equal(without, with_test)


def test_plot_weights(tmp_path):
    W1 = np.random.default_rng(0).normal(0, 0.05, size=(784, 100)).astype(np.float32)
    W1[:, 3] = 0.0  # a dead unit must not divide by zero
    _check_png(pictures.plot_weights(W1, tmp_path / "w.png", max_units=64), min_shape=(400, 400))


def test_plot_weights_rejects_wrong_input_size(tmp_path):
    with pytest.raises(InputError, match="784"):
        pictures.plot_weights(np.zeros((100, 10)), tmp_path / "w.png")
    assert not (tmp_path / "w.png").exists()


def test_plot_activations(tmp_path):
    rng = np.random.default_rng(1)
    images = _digits(8, rng)
    hidden = [np.maximum(rng.normal(size=(8, 64)), 0), np.tanh(rng.normal(size=(8, 16)))]
    path = pictures.plot_activations(images, hidden, tmp_path / "act.png", labels=np.arange(8))
    _check_png(path, min_shape=(400, 400))


def _activation_inputs(k=8):
    rng = np.random.default_rng(1)
    return _digits(k, rng), [np.maximum(rng.normal(size=(k, 64)), 0), np.tanh(rng.normal(size=(k, 16)))]


def test_plot_activations_names_each_image_by_its_class(tmp_path):
    images, hidden = _activation_inputs()
    labels = np.array([9, 0, 6, 2, 1, 5, 8, 3])
    fig = pictures._activations_figure(images, hidden, labels, FASHION)
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert ylabels == [FASHION[y] for y in labels]
    _assert_text_fits(fig, [ax.yaxis.label for ax in fig.axes] + [ax.title for ax in fig.axes])
    path = pictures.plot_activations(images, hidden, tmp_path / "act.png", labels=labels, class_names=FASHION)
    _check_png(path, min_shape=(400, 400))


@pytest.mark.parametrize("class_names", [None, DIGITS])
def test_plot_activations_says_label_n_for_digits(class_names):
    images, hidden = _activation_inputs(3)
    fig = pictures._activations_figure(images, hidden, np.array([7, 2, 1]), class_names)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["label 7", "label 2", "label 1"]


def test_plot_activations_rejects_bad_class_names(tmp_path):
    images, hidden = _activation_inputs(3)
    with pytest.raises(InputError, match="got 5 class_names.*one name per class"):
        pictures.plot_activations(images, hidden, tmp_path / "act.png", labels=[9, 0, 1], class_names=FASHION[:5])
    with pytest.raises(InputError, match="pass labels too"):
        pictures.plot_activations(images, hidden, tmp_path / "act.png", class_names=FASHION)
    assert not (tmp_path / "act.png").exists()


def test_plot_activations_rejects_mismatched_rows(tmp_path):
    rng = np.random.default_rng(2)
    with pytest.raises(InputError, match="one row per image"):
        pictures.plot_activations(_digits(4, rng), [np.zeros((3, 10))], tmp_path / "act.png")


def test_plot_confusion(tmp_path):
    rng = np.random.default_rng(3)
    confusion = np.diag(rng.integers(900, 1100, size=10)) + rng.integers(0, 5, size=(10, 10))
    _check_png(pictures.plot_confusion(confusion, tmp_path / "cm.png", class_names=[str(i) for i in range(10)]))
    with pytest.raises(InputError, match="class_names"):
        pictures.plot_confusion(confusion, tmp_path / "cm2.png", class_names=["a"])


@pytest.mark.parametrize("class_names", [DIGITS, FASHION], ids=["mnist", "fashion"])
def test_confusion_labels_do_not_overlap_or_clip(class_names):
    rng = np.random.default_rng(3)
    confusion = np.diag(rng.integers(900, 1100, size=10)) + rng.integers(0, 50, size=(10, 10))
    fig = pictures._confusion_figure(confusion, class_names)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == class_names
    _assert_text_fits(fig, ax.get_xticklabels() + [ax.xaxis.label])
    _assert_text_fits(fig, ax.get_yticklabels() + [ax.yaxis.label, ax.title])


def _long_name_mistakes(m=40):
    """Images whose true and predicted classes are Fashion-MNIST's longest names."""
    rng = np.random.default_rng(6)
    y_true = np.where(np.arange(m) % 2, 0, 9)  # T-shirt/top, Ankle boot
    y_pred = 9 - y_true
    return _digits(m, rng), y_true, y_pred, rng.dirichlet(np.ones(10), size=m)


@pytest.mark.parametrize("with_probs", [True, False])
def test_misclassified_titles_do_not_overlap_or_clip(with_probs):
    images, y_true, y_pred, probs = _long_name_mistakes()
    fig = pictures._misclassified_figure(images, y_true, y_pred, FASHION, probs if with_probs else None)
    titles = [ax.title for ax in fig.axes]
    assert len(titles) == 36
    assert titles[0].get_text().startswith("true: ") and "\npred: " in titles[0].get_text()
    lines = [line for t in titles for line in t.get_text().split("\n")]
    assert {"true: T-shirt/top", "true: Ankle boot"} <= set(lines)
    assert any(line.startswith("pred: T-shirt/top") for line in lines)
    _assert_text_fits(fig, titles + [fig._suptitle])


def test_plot_misclassified_rejects_bad_class_names(tmp_path):
    images, y_true, y_pred, probs = _long_name_mistakes(6)
    with pytest.raises(InputError, match="got 3 class_names.*one name per class"):
        pictures.plot_misclassified(images, y_true, y_pred, tmp_path / "mis.png", class_names=FASHION[:3])
    with pytest.raises(InputError, match="one column per class name"):
        pictures.plot_misclassified(images, y_true, y_pred, tmp_path / "mis.png", class_names=FASHION, probs=probs[:, :5])
    assert not (tmp_path / "mis.png").exists()


@pytest.mark.parametrize("with_probs", [True, False])
def test_plot_misclassified(tmp_path, with_probs):
    rng = np.random.default_rng(4)
    m = 50
    y_true = rng.integers(0, 10, m)
    y_pred = np.where(rng.random(m) < 0.5, y_true, (y_true + 1) % 10)
    probs = rng.dirichlet(np.ones(10), size=m) if with_probs else None
    path = pictures.plot_misclassified(
        _digits(m, rng), y_true, y_pred, tmp_path / "mis.png", class_names=[str(i) for i in range(10)], probs=probs
    )
    _check_png(path)


def test_plot_misclassified_with_no_mistakes_still_writes(tmp_path):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 10, 6)
    images = _digits(6, rng)
    path = pictures.plot_misclassified(images, y, y, tmp_path / "mis.png", class_names=list("0123456789"))
    assert path.read_bytes()[:8] == PNG_MAGIC
    # the picture is the documented short note, not an empty canvas or a gallery
    fig = pictures._misclassified_figure(images, y, y, list("0123456789"))
    assert [t.get_text() for t in fig.texts] == ["no misclassified examples among 6"] and not fig.axes
    with Image.open(path) as image:
        assert np.asarray(image.convert("L")).min() < 128  # dark text on the white background


def test_no_pyplot_and_no_global_figures():
    """In a fresh interpreter, drawing every plot leaves pyplot unimported."""
    script = textwrap.dedent(
        """
        import sys, tempfile, pathlib
        import numpy as np
        from nnfunc.report import curves, pictures
        d = pathlib.Path(tempfile.mkdtemp())
        h = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4}]
        curves.plot_loss(h, d / "a.png")
        curves.plot_accuracy(h, d / "b.png", test=0.5)
        pictures.plot_weights(np.ones((784, 2)), d / "c.png")
        pictures.plot_activations(np.ones((2, 784)), [np.ones((2, 3))], d / "d.png", labels=[0, 1], class_names=["a", "b"])
        pictures.plot_confusion(np.eye(2, dtype=int), d / "e.png", class_names=["a", "b"])
        pictures.plot_misclassified(np.ones((2, 784)), np.array([0, 1]), np.array([1, 1]), d / "f.png",
                                 class_names=["a", "b"])
        assert len(list(d.glob("*.png"))) == 6
        import matplotlib._pylab_helpers as helpers
        print("pyplot" if "matplotlib.pyplot" in sys.modules else "clean", len(helpers.Gcf.get_all_fig_managers()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "MPLBACKEND": "", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["clean", "0"]


# a sweep's plots (nnfunc.report.sweeps)

SWEEP_SPACE = {"lr": {"low": 3e-4, "high": 1e-2, "log": True}, "hidden": {"choices": ["128", "256,256", "512,512"]},
               "dropout": {"low": 0.0, "high": 0.3, "log": False}}


def _sweep_rows(n=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        state = ["complete", "pruned", "failed", "interrupted"][i % 4] if i > 1 else "complete"
        epochs = {"complete": 8, "pruned": 2, "failed": 1, "interrupted": 1}[state]
        start = 1000.0 + 5 * i
        acc = np.minimum(0.9 + 0.01 * np.arange(1, epochs + 1) + rng.uniform(0, 0.01), 0.99)
        curve = [[start + 2 * e, e + 1, 0.5 - acc[e] / 3, float(acc[e])] for e in range(epochs)]
        rows.append({"trial": i, "state": state, "val_loss": curve[-1][2] if state == "complete" else None,
                     "val_accuracy": curve[-1][3] if state in ("complete", "pruned") else None,
                     "params": {"lr": float(rng.uniform(3e-4, 1e-2)), "hidden": ["128", "256,256", "512,512"][i % 3],
                                "dropout": float(rng.uniform(0, 0.3))},
                     "curve": curve, "started": start})
    return rows


def _shown_ticks(ax):
    """The tick labels inside the axes' limits (matplotlib keeps labels for ticks beyond them, undrawn)."""
    ax.figure.canvas.draw()
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    return ([t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
            + [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1])


def test_sweep_plots_are_real_pngs_with_text_that_fits(tmp_path):
    from nnfunc.report import sweeps

    rows = _sweep_rows()
    _check_png(sweeps.plot_progress(rows, tmp_path / "progress.png", best=0))
    _check_png(sweeps.plot_params(rows, SWEEP_SPACE, tmp_path / "params.png", best=0))
    for fig in (sweeps._progress_figure(rows, 0), sweeps._params_figure(rows, SWEEP_SPACE, 0)):
        texts = [t for ax in fig.axes for t in (_shown_ticks(ax) + [ax.xaxis.label, ax.yaxis.label, ax.title])]
        _assert_text_fits(fig, texts + ([fig._suptitle] if fig._suptitle else []))
    _no_temp_files(tmp_path)


def test_the_best_trial_is_drawn_apart_and_named():
    from nnfunc.report import sweeps

    rows = _sweep_rows()
    fig = sweeps._progress_figure(rows, best=5)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "best: trial 5 (lowest val loss)" in labels
    assert not any(label.startswith("best") for label in
                   (line.get_label() for line in sweeps._progress_figure(rows).axes[0].lines))
    # a long sweep is drawn in minutes
    for r in rows:
        r["curve"] = [[p[0] * 10, *p[1:]] for p in r["curve"]]
    assert "minutes" in sweeps._progress_figure(rows).axes[0].get_xlabel()


@pytest.mark.parametrize("rows", [[], [{"trial": 0, "state": "failed", "curve": [], "params": {}}]])
def test_a_sweep_without_results_still_draws(tmp_path, rows):
    from nnfunc.report import sweeps

    assert sweeps.plot_progress(rows, tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC
    assert sweeps.plot_params(rows, SWEEP_SPACE, tmp_path / "q.png").read_bytes()[:8] == PNG_MAGIC


def test_sweep_plots_refuse_what_is_not_a_table(tmp_path):
    from nnfunc.report import sweeps

    with pytest.raises(InputError, match="trials.json"):
        sweeps.plot_progress({"trial": 0}, tmp_path / "p.png")
    with pytest.raises(InputError, match="space is empty"):
        sweeps.plot_params(_sweep_rows(), {}, tmp_path / "p.png")
