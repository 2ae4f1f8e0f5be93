"""MLPClassifier and MLPRegressor: scikit-learn's two MLP estimators, trained by nnfunc.

Their constructors take scikit-learn's parameters with its names, defaults
and meanings, in its order; nnfunc's own settings come after them:

    dropout: probability in [0, 1) of zeroing each hidden unit while
        training (stochastic solvers only).
    init: "sklearn" (scikit-learn's: weights and biases uniform in
        +-sqrt(6 / (fan_in + fan_out)), 2 instead of 6 for 'logistic'), or
        one of nnfunc's schemes (``nnfunc.SCHEMES``, zero biases).
    dtype: None (float32 X trains a float32 network, anything else
        float64, as scikit-learn), or "float32" / "float64" for every X.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

import nnfunc as nf
from nnfunc import outputs as _outputs
from nnfunc.sklearn._base import BaseMLP, check_fitted
from nnfunc.sklearn._settings import choice


def _stochastic(estimator):
    """partial_fit exists for the 'sgd' and 'adam' solvers only (L-BFGS needs all the rows at once)."""
    return estimator.solver in ("sgd", "adam")


class MLPClassifier(ClassifierMixin, BaseMLP):
    """scikit-learn's ``MLPClassifier`` (same parameters and attributes), trained by nnfunc's pure functions.

    Multi-class y trains a softmax output with cross-entropy; binary y one
    logistic unit, and a multi-label indicator matrix one logistic unit per
    label, with binary cross-entropy. Parameters and fitted attributes are
    scikit-learn's (see its documentation), plus ``dropout``, ``init`` and
    ``dtype`` (module docstring) and ``params_``, the network as nnfunc's
    dict over the same arrays as ``coefs_`` and ``intercepts_``.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, init="sklearn", dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.init = init
        self.dtype = dtype

    def fit(self, X, y, sample_weight=None):
        """Train on X: (m, n) dense or sparse, y: (m,) labels or (m, k) label indicators; return self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y (see ``fit``); the first call needs ``classes``, every label y will hold."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer().fit(
                y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                             f"{self.classes_!r}")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """(m,) labels, or (m, k) label indicators for a multi-label fit."""
        return self._labels(self._outputs(check_fitted(self, X)))

    def predict_proba(self, X):
        """(m, n_classes) probabilities in ``classes_`` order (each column on its own for multi-label)."""
        logits = self._logits(check_fitted(self, X))
        if self.n_outputs_ == 1:
            return np.column_stack([_outputs.sigmoid(-logits[:, 0]), _outputs.sigmoid(logits[:, 0])])
        return _outputs.activate(self.out_activation_, logits)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``, as scikit-learn defines it (so both rank the classes alike).

        The probabilities keep their relative precision down to the smallest
        float (``nnfunc.outputs.sigmoid``), so the log is exact to rounding
        wherever a probability is not 0; where it is, the log is -inf.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    # what BaseMLP asks of a subclass

    def _validate_input(self, X, y, incremental, reset):
        """(X, Y, y): X checked, Y the (m, k) bool label indicators, y the labels as given."""
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=self._float_dtypes(), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool), y

    def _output_layer(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _targets(self, Y):
        if self.out_activation_ == "softmax":
            return Y.argmax(axis=1).astype(np.intp)
        return Y.astype(self.coefs_[0].dtype)

    def _stratify(self, Y, labels):
        # as scikit-learn 1.9 does, for the same split: only a binary y is stratified, on its indicator
        # column (so its messages name True/False); its multi-class Y has several columns and is not
        return Y if Y.shape[1] == 1 else None

    def _labels(self, outputs):
        return self._label_binarizer.inverse_transform(outputs.ravel() if self.n_outputs_ == 1 else outputs)

    def _score_outputs(self, outputs, labels, w):
        return accuracy_score(labels, self._labels(outputs), sample_weight=w)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """scikit-learn's ``MLPRegressor`` (same parameters and attributes), trained by nnfunc's pure functions.

    ``loss='squared_error'`` trains an identity output on half the squared
    error, ``loss='poisson'`` an exp output on half the Poisson deviance
    (y >= 0). With several targets nnfunc minimises the sum of their
    squared errors (the function whose gradient scikit-learn follows) and
    reports their mean in ``loss_``, as scikit-learn does. Extras as
    ``MLPClassifier``.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, init="sklearn",
                 dtype=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.init = init
        self.dtype = dtype

    def fit(self, X, y, sample_weight=None):
        """Train on X: (m, n) dense or sparse, y: (m,) or (m, k) real targets; return self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y (see ``fit``), from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """(m,) predictions, or (m, k) for k targets, in the network's dtype."""
        return self._flat(self._outputs(check_fitted(self, X)))

    # what BaseMLP asks of a subclass

    def _validate_input(self, X, y, incremental, reset):
        choice(self.loss, "loss", ("squared_error", "poisson"))
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=self._float_dtypes(), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        return X, (y.reshape(-1, 1) if y.ndim == 1 else y), y

    def _output_layer(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _targets(self, Y):
        return Y.astype(self.coefs_[0].dtype)

    def _stratify(self, Y, labels):
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags

    def _flat(self, outputs):
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def _score_outputs(self, outputs, labels, w):
        return r2_score(labels, self._flat(outputs), sample_weight=w)
