"""Every PNG of a training run, drawn from its final state, its test evaluation and its data."""

import numpy as np

from nnfunc.data import augment as _augment
from nnfunc.data.load import scale_pixels
from nnfunc.model import forward
from nnfunc.report import curves, distortions, metrics, pictures
from nnfunc.training.loop import final_params
from nnfunc.training.seeds import run_seeds
from nnfunc.training.settings import augment_spec



def write_plots(out, state, ds, test, activation, train_data, config):
    """Draw every PNG of a run into the directory ``out``.

    ``state`` is the run's final FitState, ``ds`` its Dataset, ``test`` the
    Evaluation of the final params on the test set; the first training
    images of ``train_data`` (a TrainData) show the run's augmentation,
    when ``config`` has one.
    """
    spec = augment_spec(config)
    if spec is not None:
        # a stream of its own, so drawing the picture never moves the training's draws
        rng = np.random.default_rng(run_seeds(config["seed"]).augment.spawn(1)[0])
        sample = scale_pixels(train_data.x_train[:8], np.float32)
        versions = [_augment.augment(sample, spec, rng) for _ in range(7)]
        distortions.plot_augment(sample, versions, out / "augment.png", spec=spec)
    params = final_params(state)
    history = list(state.history)
    curves.plot_loss(history, out / "loss.png")
    curves.plot_accuracy(history, out / "accuracy.png", test=test.accuracy)
    if ds.x_test.shape[1] == 784:
        pictures.plot_weights(params["W1"], out / "weights.png")
        sample = scale_pixels(ds.x_test[:8], np.float32)
        _, cache = forward(params, sample, activation=activation)
        hidden = [cache[f"A{l}"] for l in range(1, len(params) // 2)]
        if hidden:
            pictures.plot_activations(sample, hidden, out / "activations.png", labels=ds.y_test[:8],
                                      class_names=ds.class_names)
        pictures.plot_misclassified(scale_pixels(ds.x_test, np.float32), ds.y_test, test.predictions,
                                    out / "misclassified.png", class_names=ds.class_names, probs=test.probs)
    confusion = metrics.confusion_matrix(ds.y_test, test.predictions, len(ds.class_names))
    pictures.plot_confusion(confusion, out / "confusion.png", class_names=ds.class_names)
