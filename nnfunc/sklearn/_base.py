"""What MLPClassifier and MLPRegressor share: settings, fitting, and the forward pass.

The training follows scikit-learn's ``BaseMultilayerPerceptron`` step for
step (epochs of shuffled mini-batches, ``tol`` and ``n_iter_no_change``,
the 'invscaling' and 'adaptive' rates, early stopping on a validation
score, warm starts), with nnfunc's pure calls doing the arithmetic:
``nnfunc.value_and_grad`` on each batch, nnfunc's ``momentum``/``adam``
``update`` and ``apply_updates``. A network that diverges (its loss or
weights go NaN or inf, which nnfunc refuses to compute with) ends the
training as scikit-learn's would end up: NaN weights, NaN scores, and
the "non-finite parameter weights" error unless early stopping restores
the best epoch's weights.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

import nnfunc as nf
from nnfunc import outputs as _outputs
from nnfunc.errors import ConfigError, InputError, NnfuncError, ParamsError
from nnfunc.subnormals import flush
from nnfunc.sklearn import _solvers
from nnfunc.sklearn._settings import ACTIVATIONS, FLOATS, check_settings, random_state

# what an overflowing network raises (non-finite loss, gradients or step); anything else is a bug to show
OVERFLOW = (InputError, ParamsError, ConfigError)
NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large values and need to "
              "be preprocessed.")


class BaseMLP(BaseEstimator):
    """scikit-learn's MLP settings and training; subclasses say what the outputs are."""

    # __init__ is the subclasses': scikit-learn reads the settings from its signature

    def _float_dtypes(self):
        return FLOATS if self.dtype is None else np.dtype(self.dtype)

    # the network as scikit-learn shows it: coefs_ and intercepts_, and nnfunc's params_ over them

    @property
    def params_(self):
        """The network as nnfunc's plain dict {"W1": coefs_[0], "b1": intercepts_[0], ...} (the same arrays)."""
        check_is_fitted(self, "coefs_")
        return {key: array for l, (W, b) in enumerate(zip(self.coefs_, self.intercepts_), start=1)
                for key, array in ((f"W{l}", W), (f"b{l}", b))}

    def _keep(self, params):
        L = len(params) // 2
        self.coefs_ = [params[f"W{l}"] for l in range(1, L + 1)]
        self.intercepts_ = [params[f"b{l}"] for l in range(1, L + 1)]

    def _net(self):
        return {"activation": ACTIVATIONS[self.activation], "output": self.out_activation_}

    def _logits(self, X):
        """(m, n_outputs_) logits of validated X (dense or sparse), in chunks when X is sparse."""
        params, net = self.params_, self._net()
        step = X.shape[0] if not hasattr(X, "toarray") else 4096
        parts = []
        for start in range(0, max(X.shape[0], 1), max(step, 1)):
            x = _solvers.dense(X, slice(start, start + step), params["W1"].dtype)
            # the logits: their exp may overflow to inf, which scikit-learn returns rather than refuses
            parts.append(nf.forward(params, x, activation=net["activation"], output="identity")[0])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _outputs(self, X):
        """(m, n_outputs_) the output layer's activation of validated X."""
        with np.errstate(over="ignore"):
            return _outputs.activate(self.out_activation_, self._logits(X))

    # fitting

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = check_settings(self)
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y, labels = self._validate_input(X, y, incremental, reset=first)
        w = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                                                    ensure_non_negative=True)
        # scikit-learn's stream: a RandomState from random_state at every call, drawn from in its order
        # (weights, then each epoch's shuffle), so the same random_state gives its initial weights
        self._random_state = random_state(self.random_state)
        if first:
            self._initialize([X.shape[1], *hidden, Y.shape[1]], X.dtype)
        targets = self._targets(Y)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, targets, w)
        else:
            self._fit_stochastic(X, Y, targets, labels, w, incremental)
        if not all(np.isfinite(a).all() for a in (*self.coefs_, *self.intercepts_)):
            raise ValueError(NON_FINITE)
        return self

    def _initialize(self, sizes, dtype):
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = sizes[-1]
        self.n_layers_ = len(sizes)
        self.out_activation_ = self._output_layer()
        rng = self._random_state
        if self.init == "sklearn":
            params = _solvers.glorot(sizes, rng, 2.0 if ACTIVATIONS[self.activation] == "sigmoid" else 6.0, dtype)
        else:
            params = nf.init(sizes, int(rng.randint(np.iinfo(np.int32).max)), scheme=self.init, dtype=dtype)
        self._keep(params)
        self._best_params = dict(params)
        self._opt_state = None
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf

    def _fit_lbfgs(self, X, targets, w):
        params, self.loss_, self.n_iter_, result = _solvers.lbfgs(
            self.params_, _solvers.dense(X), targets, w, self._net(), self.alpha, self.max_iter, self.max_fun,
            self.tol)
        if self.verbose:
            print(f"L-BFGS: {result.nit} iterations, {result.nfev} evaluations, loss = {self.loss_:.8f}")
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status={result.status}): "
                          f"{result.message}. Increase the number of iterations (max_iter) or the evaluations "
                          "(max_fun), or scale the data, e.g. with sklearn.preprocessing.StandardScaler",
                          ConvergenceWarning, stacklevel=4)
        self._keep(params)

    def _fit_stochastic(self, X, Y, targets, labels, w, incremental):
        if not incremental or self._opt_state is None or getattr(self, "_opt_solver", None) != self.solver:
            self._lr = float(self.learning_rate_init)
            self._opt_state = None
            self._opt_state = self._optimizer().init(self.params_)
            self._opt_solver = self.solver  # a solver set since then starts its own state
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping:
            X, targets, w, X_val, labels_val, w_val = self._split(X, Y, targets, labels, w)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              stacklevel=4)
            batch = int(np.clip(self.batch_size, 1, n))
        params, net = self.params_, self._net()
        # dropout's masks come from a Generator of their own, seeded from the stream only when used
        masks = np.random.default_rng(self._random_state.randint(2**31 - 1)) if self.dropout else None
        order = np.arange(n)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            if self.shuffle:  # as scikit-learn: the last epoch's order shuffled again
                order = shuffle(order, random_state=self._random_state)
            total = 0.0
            diverged = False
            for start in range(0, n, batch):
                rows = order[start:start + batch]
                wb = None if w is None else w[rows]
                try:
                    value, grads = _solvers.objective(params, _solvers.dense(X, rows), targets[rows], wb, net,
                                                      self.alpha, self.dropout, masks)
                    total += len(rows) * _solvers.shown(value, params, self.alpha,
                                                        len(rows) if wb is None else float(wb.sum()), net["output"])
                    updates, self._opt_state = self._optimizer().update(grads, self._opt_state, params)
                    params = nf.apply_updates(params, updates)
                except OVERFLOW:  # the loss or the weights overflowed: as NaN as scikit-learn's would be
                    params = {k: np.full_like(v, np.nan) for k, v in params.items()}
                    diverged = True
                    break
            self._keep(params)
            self.n_iter_ += 1
            self.loss_ = np.nan if diverged else total / n
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._count_no_improvement(X_val if self.early_stopping else None,
                                       labels_val if self.early_stopping else None,
                                       w_val if self.early_stopping else None)
            if self.learning_rate == "invscaling" and self.solver == "sgd":  # scikit-learn's Adam keeps its rate
                self._set_rate(float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t)
            if diverged:  # NaN weights stay NaN: no later epoch can change them
                break
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if self.early_stopping else "Training loss"
                message = (f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} "
                           "consecutive epochs.")
                if self.learning_rate != "adaptive" or self.solver != "sgd" or self._lr <= 1e-6:
                    if self.verbose:
                        print(message + " Stopping.")
                    break
                self._set_rate(self._lr / 5.0)
                self._no_improvement_count = 0
                if self.verbose:
                    print(message + f" Setting learning rate to {self._lr:f}")
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                              "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)
        if self.early_stopping:
            self._keep(self._best_params)

    def _optimizer(self):
        """nnfunc's optimizer that takes scikit-learn's next step from ``_opt_state``.

        scikit-learn's Adam adds epsilon to sqrt(v) before the bias correction,
        nnfunc's after it: the same step, with nnfunc's epsilon scaled by
        1 / sqrt(1 - beta_2^t) at step t.
        """
        if self.solver == "adam":
            t = int(self._opt_state.count) + 1 if self._opt_state is not None else 1
            return nf.adam(self._lr, self.beta_1, self.beta_2, self.epsilon / np.sqrt(1 - self.beta_2 ** t))
        # nnfunc's momentum needs beta < 1; scikit-learn allows 1
        return nf.momentum(self._lr, min(float(self.momentum), np.nextafter(1.0, 0)), bool(self.nesterovs_momentum))

    def _set_rate(self, lr):
        """Change the rate between epochs, keeping scikit-learn's velocity.

        scikit-learn's velocity holds past steps (rate times gradient), nnfunc's
        past gradients (the rate multiplies it at each step); rescaling it by
        old / new rate keeps the step the velocity carries.
        """
        if self.solver == "sgd" and lr != self._lr:
            factor = self._lr / lr
            self._opt_state = self._opt_state._replace(
                mu={k: flush(v * v.dtype.type(factor)) for k, v in self._opt_state.mu.items()})
        self._lr = lr

    def _split(self, X, Y, targets, labels, w):
        """(X, targets, w) of training and (X, labels, w) of validation, split as scikit-learn does."""
        parts = [X, targets, labels] + ([] if w is None else [w])
        split = train_test_split(*parts, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=self._stratify(Y, labels))
        X_train, X_val, t_train, _, _, l_val = split[:6]
        w_train, w_val = (split[6], split[7]) if w is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                             "dataset.")
        return X_train, t_train, w_train, X_val, l_val, w_val

    def _count_no_improvement(self, X_val, labels_val, w_val):
        if self.early_stopping:
            score = self._validation_score(X_val, labels_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            self._no_improvement_count = (self._no_improvement_count + 1
                                          if score < self.best_validation_score_ + self.tol else 0)
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.params_
        else:
            last = self.loss_curve_[-1]
            self._no_improvement_count = self._no_improvement_count + 1 if last > self.best_loss_ - self.tol else 0
            if last < self.best_loss_:
                self.best_loss_ = last

    def _validation_score(self, X, labels, w):
        try:  # weights that diverged, or outputs that overflow: scikit-learn scores these NaN
            outputs = self._outputs(X)
        except NnfuncError:
            return np.nan
        if not np.isfinite(outputs).all():
            return np.nan
        with np.errstate(over="ignore", invalid="ignore"):  # huge finite outputs: the score says it (-inf)
            return float(self._score_outputs(outputs, labels, w))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def check_fitted(estimator, X):
    """Validated X for a fitted estimator's predictions (dense or sparse, its dtype)."""
    check_is_fitted(estimator, "coefs_")
    return validate_data(estimator, X, accept_sparse=["csr", "csc"], dtype=estimator.coefs_[0].dtype, reset=False)
