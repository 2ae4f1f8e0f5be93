"""nnfunc.sklearn: scikit-learn's estimator checks, its MLP as the reference, its tools around the estimators.

scikit-learn's own MLP tests run against these estimators in tests/test_sklearn_suite.py.
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from tests.helpers import assert_bit_identical, require_extra

require_extra("sklearn", "sklearn")

import scipy.sparse  # noqa: E402
import sklearn.neural_network as theirs  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnfunc as nf  # noqa: E402
from nnfunc.sklearn import EXPECTED_FAILED_CHECKS, MLPClassifier, MLPRegressor  # noqa: E402

# the defaults, and one configuration per solver taking the other paths: two layers, the
# adaptive rate, momentum without Nesterov, another init. Not early stopping (its partial_fit
# raises, as scikit-learn's does, and check_fit_score_takes_y calls it), and not what makes a
# weighted row differ from a repeated one, which check_sample_weight_equivalence needs: dropout's
# masks, mini-batches, 'invscaling' (its rate falls with the rows seen), float32 rounding.
# The tests after these cover them.
ESTIMATORS = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(hidden_layer_sizes=(8, 6), activation="tanh", solver="sgd", learning_rate_init=0.1,
                  nesterovs_momentum=False, n_iter_no_change=3, max_iter=60, random_state=0),
    MLPRegressor(hidden_layer_sizes=(8, 6), activation="logistic", solver="sgd", learning_rate="adaptive",
                 learning_rate_init=0.1, max_iter=100, init="he_uniform", random_state=0),
    MLPClassifier(hidden_layer_sizes=(10,), activation="identity", solver="lbfgs", alpha=1e-2, max_iter=50,
                  random_state=0),
    MLPRegressor(loss="poisson", hidden_layer_sizes=(10,), solver="lbfgs", max_iter=50, random_state=0),
    MLPClassifier(hidden_layer_sizes=(12,), solver="adam", learning_rate_init=0.01, beta_1=0.8, epsilon=1e-6,
                  random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_no_check_is_excused():
    """README says both estimators meet every check; an excused one must be listed there, with its reason."""
    assert EXPECTED_FAILED_CHECKS == {}


def test_the_constructors_are_scikit_learns_then_nnfuncs_extras():
    for ours, reference in ((MLPClassifier, theirs.MLPClassifier), (MLPRegressor, theirs.MLPRegressor)):
        mine, its = ours().get_params(), reference().get_params()
        assert {k: mine[k] for k in its} == its
        assert sorted(set(mine) - set(its)) == ["dropout", "dtype", "init"]
        names = list(ours.__init__.__code__.co_varnames[1:len(mine) + 1])
        assert names[:len(its)] == list(reference.__init__.__code__.co_varnames[1:len(its) + 1])


# scikit-learn's MLP as the reference: the same random_state gives the same initial weights and the same
# batches, so the same training must end at the same weights, up to rounding
DIGITS = load_digits(return_X_y=True)
MULTILABEL = make_multilabel_classification(n_samples=200, random_state=0)
REGRESSION = make_regression(n_samples=300, n_features=8, n_targets=2, noise=5, random_state=0)
WEIGHTS = np.random.default_rng(0).uniform(0.2, 2, 1797)


@pytest.mark.parametrize("kind, data, settings", [
    ("clf", "digits", dict(solver="lbfgs", max_iter=30)),
    ("clf", "digits", dict(solver="sgd", max_iter=5, learning_rate="invscaling", learning_rate_init=0.1)),
    ("clf", "digits", dict(solver="sgd", max_iter=30, learning_rate="adaptive", learning_rate_init=0.1, tol=0.05,
                           n_iter_no_change=2)),
    ("clf", "digits", dict(solver="adam", max_iter=8, early_stopping=True)),
    ("clf", "binary", dict(solver="adam", max_iter=8, early_stopping=True, batch_size=64, activation="logistic")),
    ("clf", "digits", dict(solver="adam", max_iter=5, sample_weight=True)),
    ("clf", "digits", dict(solver="lbfgs", max_iter=10, sample_weight=True, activation="tanh")),
    ("clf", "multilabel", dict(solver="sgd", max_iter=20, early_stopping=True)),
    ("clf", "multilabel", dict(solver="lbfgs", max_iter=20, activation="tanh")),
    # one target: with several, scikit-learn's L-BFGS sees the mean of their squared errors with the
    # gradient of the sum, and its line search takes other steps than on nnfunc's consistent pair
    ("reg", "one target", dict(solver="lbfgs", max_iter=30)),
    ("reg", "regression", dict(solver="adam", max_iter=20, early_stopping=True, activation="logistic")),
    ("reg", "regression", dict(solver="sgd", max_iter=40, learning_rate_init=0.01, momentum=0.5)),
    ("reg", "counts", dict(solver="lbfgs", max_iter=30, loss="poisson")),
])
def test_training_ends_at_scikit_learns_weights(kind, data, settings):
    X, y = {"digits": DIGITS, "binary": (DIGITS[0], DIGITS[1] % 2), "multilabel": MULTILABEL,
            "regression": REGRESSION, "one target": (REGRESSION[0], REGRESSION[1][:, 0]),
            "counts": (REGRESSION[0], np.abs(REGRESSION[1]) / 50)}[data]
    X = X / X.max()
    y = y / y.std() if data in ("regression", "one target") else y
    fit_args = {"sample_weight": WEIGHTS} if settings.pop("sample_weight", False) else {}
    ours, reference = (MLPClassifier, theirs.MLPClassifier) if kind == "clf" else (MLPRegressor, theirs.MLPRegressor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = reference(hidden_layer_sizes=(20,), random_state=0, **settings).fit(X, y, **fit_args)
        b = ours(hidden_layer_sizes=(20,), random_state=0, **settings).fit(X, y, **fit_args)
    assert a.n_iter_ == b.n_iter_ and a.n_layers_ == b.n_layers_ and a.out_activation_ == b.out_activation_
    for mine, its in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_):
        np.testing.assert_allclose(mine, its, rtol=1e-9, atol=1e-9 * np.abs(its).max())
    np.testing.assert_allclose(b.loss_, a.loss_, rtol=1e-9)
    if hasattr(a, "loss_curve_"):
        np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    if getattr(a, "validation_scores_", None) is not None:
        np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-9)
    np.testing.assert_array_equal(b.predict(X), a.predict(X)) if kind == "clf" else None


def test_predictions_are_nnfuncs_on_params_():
    X, y = DIGITS[0] / 16, DIGITS[1]
    labels = np.array(list("abcdefghij"))[y]
    est = MLPClassifier(hidden_layer_sizes=(6, 5), activation="tanh", max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est.fit(X, labels)
    assert type(est.params_) is dict and list(est.params_) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert est.params_["W2"] is est.coefs_[1]
    ids = nf.predict(est.params_, X, activation="tanh", output=est.out_activation_)
    assert np.array_equal(est.classes_[ids], est.predict(X))
    probs, _ = nf.forward(est.params_, X, activation="tanh")
    np.testing.assert_allclose(est.predict_proba(X), probs, rtol=1e-12)
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.predict(X), est.predict(X))
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 20 iteration"):
        reg.fit(X, y)
    np.testing.assert_allclose(reg.predict(X), nf.predict(reg.params_, X, output="exp")[:, 0], rtol=1e-12)


def test_binary_probabilities_keep_their_digits_where_one_rounds_to_1():
    X, y = DIGITS[0] / 16, DIGITS[1] == 0
    est = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, random_state=0).fit(X, y)
    z = nf.forward(est.params_, X, activation="relu", output="identity")[0][:, 0]
    scale = 300 / np.abs(z).max()  # a confident network: logits up to +-300, where 1 - p rounds to 0 beyond 37
    est.coefs_[-1] *= scale
    est.intercepts_[-1] *= scale
    z = z * scale
    proba = est.predict_proba(X)
    assert (proba[:, 1] == 1.0).any() and (proba[:, 0] > 0).all()  # the p of the other class is not lost
    np.testing.assert_allclose(est.predict_log_proba(X), -np.logaddexp(0, np.column_stack([z, -z])), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("dtype, extra, expected", [(np.float32, {}, np.float32), (np.int64, {}, np.float64),
                                                     (np.float64, {"dtype": "float32"}, np.float32)])
def test_the_network_is_float32_for_float32_data_or_when_asked(dtype, extra, expected):
    X, y = (DIGITS[0][:300]).astype(dtype), DIGITS[1][:300]
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, **extra)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert {p.dtype for p in est.params_.values()} == {np.dtype(expected)}
    assert est.predict(X).dtype == expected


def test_sparse_x_trains_and_predicts_as_dense():
    X, y = DIGITS[0][:400] / 16, DIGITS[1][:400]
    kw = dict(hidden_layer_sizes=(10,), solver="sgd", max_iter=5, batch_size=32, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**kw).fit(X, y)
        for sparse in (scipy.sparse.csr_matrix(X), scipy.sparse.csc_array(X)):
            est = MLPClassifier(**kw).fit(sparse, y)
            assert_bit_identical(est.params_, dense.params_)
            np.testing.assert_array_equal(est.predict_proba(sparse), dense.predict_proba(X))


def test_whole_number_sample_weights_count_rows_that_many_times():
    X, y = REGRESSION[0][:60], REGRESSION[1][:60, 0] / 100
    counts = np.arange(60) % 3
    kw = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPRegressor(**kw).fit(X, y, sample_weight=counts)
        repeated = MLPRegressor(**kw).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    for a, b in zip(weighted.coefs_, repeated.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_partial_fit_goes_on_where_fit_stopped_and_survives_pickling():
    X, y = DIGITS[0][:500] / 16, DIGITS[1][:500]
    # one batch per epoch: the order each call shuffles into changes only the rounding of the sums
    kw = dict(hidden_layer_sizes=(7,), batch_size=500, random_state=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        six = MLPClassifier(max_iter=6, **kw).fit(X, y)
        five = MLPClassifier(max_iter=5, **kw).fit(X, y)
    again = pickle.loads(pickle.dumps(five)).partial_fit(X, y)  # the Adam moments go on from epoch 5
    assert again.t_ == six.t_ and len(again.loss_curve_) == 6 and again.n_iter_ == 1
    for a, b in zip(again.coefs_, six.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert not np.allclose(five.coefs_[0], six.coefs_[0], rtol=1e-4)


def test_random_state_none_leaves_numpys_global_stream_alone():
    X, y = DIGITS[0][:100] / 16, DIGITS[1][:100]
    before = np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = (MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y) for _ in range(2))
    assert np.array_equal(np.random.get_state()[1], before)
    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


@pytest.mark.parametrize("settings, words", [
    (dict(hidden_layer_sizes=(10, 0)), r"hidden_layer_sizes must be > 0, got \[10, 0\]"),
    (dict(activation="swish"), "'activation' parameter must be one of"),
    (dict(solver="rmsprop"), "'solver' parameter must be one of 'lbfgs', 'sgd', 'adam'"),
    (dict(learning_rate_init=0), "'learning_rate_init' parameter must be a number in \\(0, inf\\]"),
    (dict(max_iter=0), "'max_iter' parameter must be an int"),
    (dict(batch_size=0), "'batch_size'"),
    (dict(momentum=1.5), "'momentum'"),
    (dict(validation_fraction=1.0), "'validation_fraction'"),
    (dict(n_iter_no_change=0), "or np.inf"),
    (dict(random_state=-1), "random_state"),
    (dict(dropout=0.5, solver="lbfgs"), "dropout needs a stochastic solver"),
    (dict(init="zeros"), "'init' parameter must be one of 'sklearn', 'he'"),
    (dict(dtype="int32"), "dtype must be None"),
])
def test_bad_settings_raise_a_value_error_naming_them(settings, words):
    X, y = DIGITS[0][:50], DIGITS[1][:50]
    for estimator in (MLPClassifier, MLPRegressor):
        with pytest.raises(ValueError, match=words):
            estimator(**settings).fit(X, y)


def test_a_diverging_fit_says_so_and_early_stopping_keeps_the_last_good_weights():
    X, y = np.full((20, 2), 1e300) * np.arange(1, 21)[:, None], np.arange(20.0)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(random_state=0).fit(X, y)
    X = np.random.default_rng(0).normal(size=(100, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(solver="sgd", learning_rate_init=10.0, early_stopping=True, max_iter=20,
                           random_state=0).fit(X, X.sum(axis=1) * 100)
    assert np.isnan(est.validation_scores_[-1]) and all(np.isfinite(c).all() for c in est.coefs_)


@pytest.fixture(scope="module")
def mnist(mnist_path):
    return nf.load_dataset("mnist", data_dir=mnist_path)


@pytest.mark.slow
def test_grid_search_over_rates_and_widths_in_a_pipeline(mnist):
    """GridSearchCV clones, sets and scores the estimator exactly as a hand-written cross-validation does."""
    X, y = mnist.x_train[:1500].astype(np.float64), mnist.y_train[:1500]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=5, random_state=0))
    grid = {"mlpclassifier__learning_rate_init": [1e-3, 1e-2], "mlpclassifier__hidden_layer_sizes": [(16,), (64,)]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
        assert len(search.cv_results_["params"]) == 4
        for settings, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
            by_hand = cross_val_score(clone(pipe).set_params(**settings), X, y, cv=cv)
            assert score == by_hand.mean()
    best = search.best_estimator_[-1]
    width = search.best_params_["mlpclassifier__hidden_layer_sizes"][0]
    assert best.coefs_[0].shape == (784, width) and best.coefs_[1].shape == (width, 10)
    assert search.score(mnist.x_test[:2000], mnist.y_test[:2000]) > 0.8  # chance is 0.1; 5 epochs on 1,000 rows


def test_without_scikit_learn_the_error_says_what_to_install():
    code = "import sys; sys.modules['sklearn'] = None\nimport nnfunc.sklearn"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: nnfunc.sklearn needs scikit-learn") and 'nnfunc[sklearn]' in last


def test_dropout_trains_reproducibly_and_predicts_without_masks():
    X, y = DIGITS[0][:600] / 16, DIGITS[1][:600]
    kw = dict(hidden_layer_sizes=(32,), max_iter=40, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = (MLPClassifier(dropout=0.3, **kw).fit(X, y) for _ in range(2))
        plain = MLPClassifier(**kw).fit(X, y)
    assert_bit_identical(a.params_, b.params_)
    assert not np.allclose(a.coefs_[0], plain.coefs_[0])
    assert np.array_equal(a.predict_proba(X), a.predict_proba(X)) and a.score(X, y) > 0.95


def test_adam_keeps_its_rate_whatever_learning_rate_says_as_scikit_learn():
    X, y = DIGITS[0][:300] / 16, DIGITS[1][:300]
    for rate in ("invscaling", "adaptive"):
        kw = dict(hidden_layer_sizes=(5,), solver="adam", learning_rate=rate, learning_rate_init=0.01, tol=0.5,
                  n_iter_no_change=2, max_iter=30, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            a, b = theirs.MLPClassifier(**kw).fit(X, y), MLPClassifier(**kw).fit(X, y)
        assert a.n_iter_ == b.n_iter_
        np.testing.assert_allclose(b.coefs_[0], a.coefs_[0], rtol=1e-9, atol=1e-12)


def test_negative_sample_weights_and_a_new_solver_are_not_mistaken_for_divergence():
    X, y = DIGITS[0][:100] / 16, DIGITS[1][:100]
    w = np.ones(100)
    w[0] = -0.5
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        MLPClassifier(solver="lbfgs").fit(X, y, sample_weight=w)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    est.set_params(solver="sgd").partial_fit(X, y)  # Adam's moments do not fit momentum: it starts afresh
    assert all(np.isfinite(c).all() for c in est.coefs_)


def test_poisson_predictions_overflow_to_inf_as_scikit_learns():
    X, y = DIGITS[0][:100] / 16, DIGITS[1][:100]
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.isinf(est.predict(X * 1e6)).any()
