"""scikit-learn's classifier conventions over nnfunc's pure functions: ``MLPClassifier``.

Needs the [sklearn] extra (``pip install "nnfunc[sklearn]"``); ``import
nnfunc`` never loads scikit-learn. The estimator is a thin shell: ``fit``
runs ``nnfunc.init``, ``nnfunc.start_fit`` and ``nnfunc.fit``, and keeps
what they return as plain data (``params_``, a dict of arrays, and
``fit_state_``, the ``nnfunc.FitState`` whose optimizer state and random
streams ``partial_fit`` continues).

It passes scikit-learn's ``check_estimator`` with no expected failures
(``EXPECTED_FAILED_CHECKS`` is empty; tests/test_sklearn.py runs every check).

Its settings carry nnfunc's names (those of ``nnfunc train``); for
scikit-learn's own ``MLPClassifier`` they map as ``hidden_layer_sizes`` ->
``hidden``, ``solver`` -> ``optimizer``, ``learning_rate_init`` -> ``lr``,
``max_iter`` -> ``epochs``, ``n_iter_no_change`` -> ``patience``, and
``alpha`` -> ``l2 = alpha / batch_size`` (scikit-learn divides its penalty
by the rows of each batch, nnfunc adds ``0.5 * l2 * sum ||W||^2`` to the
mean loss: the same for every full batch).
Unlike scikit-learn's, training always runs ``epochs`` epochs (there is no
``tol``) unless ``early_stopping`` stops it, and early stopping watches the
validation loss, not the accuracy, and keeps the best epoch's params.
"""

import math
import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # the core does not depend on scikit-learn
    raise ModuleNotFoundError(f'nnfunc.sklearn needs scikit-learn ({exc}): pip install "nnfunc[sklearn]"',
                              name="sklearn") from exc

import nnfunc as nf
from nnfunc import activations as _activations
from nnfunc import checks
from nnfunc.errors import ConfigError
from nnfunc.training.loop import final_params
from nnfunc.training.seeds import run_seeds

OPTIMIZERS = {"sgd": nf.sgd, "momentum": nf.momentum, "adam": nf.adam, "adamw": nf.adamw, "rmsprop": nf.rmsprop}
# check name -> why MLPClassifier cannot meet it; pass it to check_estimator(expected_failed_checks=...)
EXPECTED_FAILED_CHECKS = {}
# float32 data trains a float32 network (as scikit-learn's MLP does); anything else float64
_FLOATS = (np.float64, np.float32)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron classifier trained by nnfunc, for pipelines and grid searches.

    Args:
        hidden: widths of the hidden layers, e.g. (100,) or (256, 128); () is
            softmax regression.
        activation: one name for every hidden layer (relu, leaky_relu,
            sigmoid, tanh, linear) or a tuple of one per hidden layer.
        optimizer: sgd, momentum, adam, adamw or rmsprop.
        lr: the optimizer's learning rate.
        epochs: passes over the training data ``fit`` makes (fewer when
            early stopping fires).
        batch_size: rows per mini-batch (all rows when there are fewer).
        l2: L2 strength: ``0.5 * l2 * sum ||W||^2`` is added to the mean loss.
        dropout: probability in [0, 1) of zeroing each hidden unit in training.
        scheme: weight initialisation (he, xavier, lecun, each _normal or _uniform).
        early_stopping: hold out ``validation_fraction`` of the rows, stop
            after ``patience`` epochs without a lower validation loss, and
            keep the params of the best epoch.
        validation_fraction: share of rows held out when ``early_stopping``.
        patience: epochs without improvement before early stopping fires.
        random_state: None (fresh entropy each fit), an int >= 0, or a
            numpy RandomState / Generator to draw the seed from. The seed
            fixes the initial weights, the shuffling, dropout and the split.

    Attributes (after fit):
        params_: the network, a plain dict {"W1": (n_in, n1), "b1": (n1,), ...}
            in float32 when X was float32, else float64.
        classes_: (k,) the class labels; output unit i is ``classes_[i]``.
        n_features_in_: int, the width of X (and ``feature_names_in_`` for
            a DataFrame with string column names).
        activation_: tuple of str, the activation of each hidden layer, as trained.
        loss_curve_: list of float, the training loss (with L2) of each epoch.
        validation_scores_: list of float, the validation accuracy of each
            epoch (None without early stopping).
        best_validation_score_: float, the validation accuracy of the kept
            epoch (None without early stopping).
        n_iter_: int, epochs run in total.
        history_: list of dict, nnfunc's record of each epoch.
        fit_state_: nnfunc.FitState, what ``partial_fit`` continues from
            (optimizer moments and random streams included).
    """

    def __init__(self, hidden=(100,), *, activation="relu", optimizer="adam", lr=1e-3, epochs=200, batch_size=200,
                 l2=0.0, dropout=0.0, scheme="he", early_stopping=False, validation_fraction=0.1, patience=10,
                 random_state=None):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.dropout = dropout
        self.scheme = scheme
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state

    def fit(self, X, y):
        """Train a fresh network on X: (m, n) real, y: (m,) labels; return self.

        Raises:
            ValueError: bad data or settings (nnfunc's errors are ValueErrors
                naming the setting); nnfunc.DivergenceError when the loss
                becomes NaN or inf (lower lr).
        """
        X, y = validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        opt, config = self._optimizer(), self._config(self.epochs, self.patience if self.early_stopping else 0)
        seed, codes = self._seed(), codes.astype(np.intp)
        data = self._split(X, codes, seed) if self.early_stopping else nf.TrainData(X, codes, X[:0], codes[:0])
        state = nf.fit(self._start(X, len(classes), opt, seed), opt, data, config)
        self.classes_ = classes
        self._keep(state)
        return self

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on X: (m, n), y: (m,); return self.

        The first call (on an unfitted estimator) starts a fresh network and
        needs ``classes``, every label y will ever hold; later calls go on
        from ``params_`` (after an early-stopped fit, the best epoch's) with
        the optimizer state of ``fit_state_``, and with the settings in force
        now (lr, batch_size, l2, dropout). Early stopping is not used here:
        each call trains on all the rows it is given.
        """
        first = not hasattr(self, "fit_state_")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit: every label y will "
                                 "hold, e.g. classes=np.unique(y_all)")
            X, y = validate_data(self, X, y, dtype=_FLOATS)
            known = unique_labels(classes)
        else:
            dtype = self.params_["W1"].dtype
            X, y = validate_data(self, X, y, dtype=dtype, reset=False)
            known = self.classes_
            if classes is not None and not np.array_equal(unique_labels(classes), known):
                raise ValueError(f"classes {unique_labels(classes).tolist()} differ from the classes of the "
                                 f"first call {known.tolist()}; pass the same classes, or call fit to start again")
        check_classification_targets(y)
        codes = np.searchsorted(known, y)
        unknown = (codes >= len(known)) | (known[np.minimum(codes, len(known) - 1)] != y)
        if unknown.any():
            raise ValueError(f"y holds the label {y[unknown][0].tolist()!r}, not one of classes {known.tolist()}; "
                             "pass every label in classes on the first call")
        opt = self._optimizer()
        if first:
            state = self._start(X, len(known), opt, self._seed())
        else:
            # go on from params_ (after early stopping, the best epoch's) with the last epoch's optimizer
            # state, as scikit-learn's MLP does; no validation here, so no best to track
            state = self.fit_state_._replace(params=self.params_, best_params=None, best_val_loss=math.inf,
                                             bad_epochs=0)
        codes = codes.astype(np.intp)
        state = nf.fit(state, opt, nf.TrainData(X, codes, X[:0], codes[:0]), self._config(state.epoch + 1, 0))
        self.classes_ = known
        self._keep(state)
        return self

    def predict_proba(self, X):
        """(m, k) class probabilities of X: (m, n), rows summing to 1, columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        probs, _ = nf.forward(self.params_, X, activation=self.activation_)
        return probs

    def predict_log_proba(self, X):
        """(m, k) log-probabilities of X: (m, n), computed from the logits (finite where a probability is 0)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        _, cache = nf.forward(self.params_, X, activation=self.activation_)
        return nf.log_softmax(cache["logits"])

    def predict(self, X):
        """(m,) the most probable label of each row of X: (m, n)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        return self.classes_[nf.predict(self.params_, X, activation=self.activation_)]

    # settings, checked when used (scikit-learn's rule: __init__ only stores them)

    def _hidden(self):
        hidden = (self.hidden,) if isinstance(self.hidden, numbers.Integral) else self.hidden
        if not isinstance(hidden, (tuple, list)) or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in hidden):
            raise ConfigError(f"hidden must be a tuple of hidden-layer widths >= 1, e.g. (100,) or (256, 128), "
                              f"got {self.hidden!r}")
        return tuple(int(n) for n in hidden)

    def _optimizer(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
        return OPTIMIZERS[self.optimizer](checks.number(self.lr, "lr", low=0, low_open=True))

    def _start(self, X, n_classes, opt, seed):
        """The FitState of a fresh network for X: (m, n), in X's dtype."""
        params = nf.init((X.shape[1], *self._hidden(), n_classes), run_seeds(seed).init, scheme=self.scheme,
                         dtype=X.dtype)
        return nf.start_fit(params, opt, seed)

    def _config(self, epochs, patience):
        return nf.FitConfig(epochs=epochs, batch_size=self.batch_size, activation=self.activation, l2=self.l2,
                            dropout=self.dropout, patience=patience)

    def _seed(self):
        """The run's int seed, from ``random_state``."""
        state = self.random_state
        if state is None:
            return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
        if isinstance(state, np.random.RandomState):
            return int(state.randint(np.iinfo(np.int32).max))
        if isinstance(state, np.random.Generator):
            return int(state.integers(2**63 - 1))
        return checks.seed(state, "random_state")

    def _split(self, X, codes, seed):
        """TrainData with ``validation_fraction`` of the rows held out, every class in proportion.

        Training keeps at least one row of every class. codes: (m,) intp, each of 0..k-1 present.
        """
        fraction = checks.number(self.validation_fraction, "validation_fraction", low=0, high=1, low_open=True,
                                 high_open=True)
        m, counts = X.shape[0], np.bincount(codes)
        n_val, spare = int(np.ceil(fraction * m)), m - len(counts)
        if n_val > spare:
            raise ValueError(f"early_stopping holds out {n_val} of the n_samples={m} rows, but training keeps a "
                             f"row of each of the {len(counts)} classes, which leaves {spare}; pass more rows or a "
                             "smaller validation_fraction, or set early_stopping=False")
        # each class's rows in a random order: the i-th of c ranks i / c, its last never leaves training;
        # the lowest ranks are held out, ties in the random order
        perm = np.random.default_rng(run_seeds(seed).split).permutation(m)
        order = perm[np.argsort(codes[perm], kind="stable")]
        within = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts)
        size = np.repeat(counts, counts)
        rank = np.empty(m)
        rank[order] = np.where(within == size - 1, np.inf, within / size)
        shuffled = np.empty(m)
        shuffled[perm] = np.arange(m)
        held = np.zeros(m, dtype=bool)
        held[np.lexsort((shuffled, rank))[:n_val]] = True
        return nf.TrainData(X[~held], codes[~held], X[held], codes[held])

    def _keep(self, state):
        """Set the fitted attributes from a FitState."""
        history = [dict(record) for record in state.history]
        self.fit_state_ = state
        self.params_ = final_params(state)
        # what predictions use: a later set_params(activation=...) must not change them
        self.activation_ = tuple(a.name for a in _activations.resolve(self.activation, len(self.params_) // 2 - 1))
        self.history_ = history
        self.n_iter_ = state.epoch
        self.loss_curve_ = [record["train_loss"] for record in history]
        watched = self.early_stopping and history and history[-1]["val_accuracy"] is not None
        self.validation_scores_ = [record["val_accuracy"] for record in history] if watched else None
        best = int(np.argmin([record["val_loss"] for record in history])) if watched else None
        self.best_validation_score_ = history[best]["val_accuracy"] if watched else None
