"""nnfunc.sklearn.MLPClassifier: scikit-learn's own estimator checks, its tools, and its MLP as a yardstick."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import assert_bit_identical, require_extra

require_extra("sklearn", "sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as ScikitMLP  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnfunc as nf  # noqa: E402
from nnfunc.sklearn import EXPECTED_FAILED_CHECKS, MLPClassifier  # noqa: E402

# the defaults, and a second estimator that takes every other path: two layers
# of different activations, momentum, dropout, L2, early stopping
ESTIMATORS = [
    MLPClassifier(),
    MLPClassifier(hidden=(8, 8), activation=("tanh", "relu"), optimizer="momentum", lr=0.05, epochs=50,
                  dropout=0.1, l2=1e-4, early_stopping=True, validation_fraction=0.2, patience=5, random_state=0),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_no_check_is_excused():
    """README says MLPClassifier meets every check; an excused one must be listed there, with its reason."""
    assert EXPECTED_FAILED_CHECKS == {}


@pytest.fixture(scope="module")
def mnist(mnist_path):
    return nf.load_dataset("mnist", data_dir=mnist_path)


@pytest.mark.slow
def test_grid_search_over_lr_and_widths_in_a_pipeline(mnist):
    """GridSearchCV clones, sets and scores the estimator exactly as a hand-written cross-validation does."""
    X, y = mnist.x_train[:1500].astype(np.float64), mnist.y_train[:1500]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=5, random_state=0))
    grid = {"mlpclassifier__lr": [1e-3, 1e-2], "mlpclassifier__hidden": [(16,), (64,)]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    for settings, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        by_hand = cross_val_score(clone(pipe).set_params(**settings), X, y, cv=cv)
        assert score == by_hand.mean()
    best = search.best_estimator_[-1]
    width = search.best_params_["mlpclassifier__hidden"][0]
    assert best.params_["W1"].shape == (784, width) and best.params_["W2"].shape == (width, 10)
    assert best.lr == search.best_params_["mlpclassifier__lr"]
    assert search.score(mnist.x_test[:2000], mnist.y_test[:2000]) > 0.8  # chance is 0.1; 5 epochs on 1,000 rows


# The yardstick: scikit-learn's MLPClassifier with the same network and training,
# 10,000 real training digits, the 10,000 test digits. Measured over seeds 0-2,
# the two differ by 0.06 to 0.5 points (different initial weights); the margin
# allows twice the largest.
MARGIN = 0.01


@pytest.mark.slow
def test_accuracy_matches_scikit_learns_mlp(mnist):
    X, y = mnist.x_train[:10_000].astype(np.float64), mnist.y_train[:10_000]
    ours = MLPClassifier(hidden=(100,), optimizer="adam", lr=1e-3, batch_size=200, epochs=10, random_state=0)
    theirs = ScikitMLP(hidden_layer_sizes=(100,), solver="adam", learning_rate_init=1e-3, batch_size=200,
                       max_iter=10, alpha=0.0, tol=0.0, n_iter_no_change=10, random_state=0)
    with pytest.warns(ConvergenceWarning):  # scikit-learn stops at max_iter and says so
        theirs.fit(X, y)
    ours.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 10
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 10
    acc_ours, acc_theirs = ours.score(mnist.x_test, mnist.y_test), theirs.score(mnist.x_test, mnist.y_test)
    assert acc_theirs > 0.92 and abs(acc_ours - acc_theirs) <= MARGIN, (acc_ours, acc_theirs)


def blobs(m=90, n=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(m) % k
    return rng.normal(size=(m, n)) + 3 * np.eye(k, n)[y], y


def test_partial_fit_epoch_by_epoch_equals_fit():
    X, y = blobs()
    whole = MLPClassifier(hidden=(7,), epochs=4, batch_size=16, random_state=3).fit(X, y)
    step = MLPClassifier(hidden=(7,), epochs=4, batch_size=16, random_state=3)
    for _ in range(4):
        step.partial_fit(X, y, classes=[0, 1, 2])
    assert_bit_identical(step.params_, whole.params_)
    assert step.loss_curve_ == whole.loss_curve_ and step.n_iter_ == 4
    # and it goes on from there, optimizer state and all
    step.partial_fit(X, y)
    assert step.n_iter_ == 5 and len(step.loss_curve_) == 5
    longer = MLPClassifier(hidden=(7,), epochs=5, batch_size=16, random_state=3).fit(X, y)
    assert_bit_identical(step.params_, longer.params_)


def test_partial_fit_after_early_stopping_goes_on_from_the_kept_params():
    X, y = blobs(m=300)
    est = MLPClassifier(hidden=(5,), epochs=40, lr=0.05, early_stopping=True, patience=3, random_state=0).fit(X, y)
    state = est.fit_state_
    assert est.n_iter_ < 40 and not np.array_equal(est.params_["W1"], state.params["W1"])  # it kept an earlier epoch
    kept = est.params_
    est.partial_fit(X, y)
    # by hand: one epoch of nnfunc.fit from the kept params, with the last epoch's optimizer state and streams
    start = state._replace(params=kept, best_params=None, best_val_loss=np.inf, bad_epochs=0)
    codes = y.astype(np.intp)
    expected = nf.fit(start, nf.adam(0.05), nf.TrainData(X, codes, X[:0], codes[:0]),
                      nf.FitConfig(epochs=state.epoch + 1, batch_size=200))
    assert_bit_identical(est.params_, expected.params)
    assert est.n_iter_ == state.epoch + 1 and est.validation_scores_ is None


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch(mnist):
    X, y = mnist.x_train[:3000], mnist.y_train[:3000]
    est = MLPClassifier(hidden=(64,), lr=1e-2, epochs=200, patience=3, early_stopping=True,
                        validation_fraction=0.2, random_state=0).fit(X, y)
    losses = [r["val_loss"] for r in est.history_]
    best = int(np.argmin(losses))
    assert est.n_iter_ == best + 1 + 3 < 200  # stopped 3 epochs after its best
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == est.validation_scores_[best]
    assert_bit_identical(est.params_, est.fit_state_.best_params)
    assert not np.array_equal(est.params_["W1"], est.fit_state_.params["W1"])


def test_the_validation_split_keeps_every_class_in_proportion():
    y = np.repeat(np.arange(4), [40, 20, 20, 20])
    X = np.arange(100.0)[:, None]
    data = MLPClassifier(validation_fraction=0.1)._split(X, y, seed=0)
    assert len(data.y_val) == 10 and len(data.y_train) == 90
    assert np.bincount(data.y_val).tolist() == [4, 2, 2, 2]
    assert sorted(data.x_train[:, 0].tolist() + data.x_val[:, 0].tolist()) == X[:, 0].tolist()
    assert not np.array_equal(data.x_val, MLPClassifier(validation_fraction=0.1)._split(X, y, seed=1).x_val)


def test_the_validation_split_never_takes_a_class_out_of_training():
    y = np.array([2] + [0] * 5 + [1] * 5)
    X = np.zeros((11, 1))
    for seed in range(20):
        data = MLPClassifier(validation_fraction=0.1)._split(X, y, seed=seed)
        assert sorted(set(data.y_train.tolist())) == [0, 1, 2] and len(data.y_val) == 2
    with pytest.raises(ValueError, match="training keeps a row of each of the 3 classes, which leaves 8"):
        MLPClassifier(validation_fraction=0.8)._split(X, y, seed=0)


def test_predictions_use_the_activation_it_was_trained_with():
    X, y = blobs()
    est = MLPClassifier(hidden=(6,), activation="tanh", epochs=20, random_state=0).fit(X, y)
    before = est.predict_proba(X)
    est.set_params(activation="relu")
    assert est.activation_ == ("tanh",) and np.array_equal(est.predict_proba(X), before)


@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.float64, np.float64),
                                              (np.int64, np.float64), (np.uint8, np.float64)])
def test_the_network_is_float32_only_for_float32_data(dtype, expected):
    X, y = blobs()
    X = (X * 10).astype(dtype)
    est = MLPClassifier(hidden=(4,), epochs=2, random_state=0).fit(X, y)
    assert {p.dtype for p in est.params_.values()} == {np.dtype(expected)}
    assert est.predict_proba(X).dtype == expected
    if dtype == np.uint8:  # numbers, not pixels: nnfunc would scale uint8 pixels by 1/255
        assert_bit_identical(est.params_, MLPClassifier(hidden=(4,), epochs=2, random_state=0).fit(
            X.astype(np.float64), y).params_)


def test_params_are_nnfuncs_plain_dict():
    X, y = blobs()
    labels = np.array(["cat", "dog", "eel"])[y]
    est = MLPClassifier(hidden=(6, 5), activation=("tanh", "sigmoid"), epochs=30, random_state=0).fit(X, labels)
    assert type(est.params_) is dict and list(est.params_) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    ids = nf.predict(est.params_, X, activation=est.activation_)
    assert np.array_equal(est.classes_[ids], est.predict(X))
    probs, _ = nf.forward(est.params_, X, activation=est.activation_)
    assert np.array_equal(probs, est.predict_proba(X))
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.predict(X), est.predict(X))


@pytest.mark.parametrize("settings, words", [
    (dict(optimizer="lbfgs"), "optimizer 'lbfgs' is unknown; choose one of sgd, momentum, adam"),
    (dict(hidden=(10, 0)), "hidden must be a tuple of hidden-layer widths >= 1"),
    (dict(hidden="100"), "hidden must be a tuple"),
    (dict(lr=0), "lr must be a finite number > 0"),
    (dict(epochs=-1), "epochs"),
    (dict(activation="swish"), "swish"),
    (dict(random_state=-1), "random_state"),
    (dict(early_stopping=True, validation_fraction=1.0), "validation_fraction"),
])
def test_bad_settings_raise_a_value_error_naming_them(settings, words):
    X, y = blobs()
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        MLPClassifier(**settings).fit(X, y)


def test_partial_fit_refuses_what_it_cannot_continue():
    X, y = blobs()
    est = MLPClassifier(hidden=(3,))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # a class absent from the first batch is fine
    with pytest.raises(ValueError, match="label 7"):
        est.partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="differ from the classes of the first call"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier is expecting 5"):
        est.partial_fit(X[:, :4], y)
    assert est.n_iter_ == 1


def test_random_state_none_draws_fresh_networks_and_a_seed_repeats_one():
    X, y = blobs()
    a, b = (MLPClassifier(hidden=(3,), epochs=1).fit(X, y) for _ in range(2))
    assert not np.array_equal(a.params_["W1"], b.params_["W1"])
    c, d = (MLPClassifier(hidden=(3,), epochs=1, random_state=np.random.RandomState(5)).fit(X, y) for _ in range(2))
    assert_bit_identical(c.params_, d.params_)


def test_without_scikit_learn_the_error_says_what_to_install():
    code = "import sys; sys.modules['sklearn'] = None\nimport nnfunc.sklearn"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: nnfunc.sklearn needs scikit-learn") and 'nnfunc[sklearn]' in last
