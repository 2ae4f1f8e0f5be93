"""scikit-learn's MLPClassifier and MLPRegressor, trained by nnfunc: swap the import line, keep the script.

    from nnfunc.sklearn import MLPClassifier, MLPRegressor
    # instead of: from sklearn.neural_network import MLPClassifier, MLPRegressor

Needs the [sklearn] extra (``pip install "nnfunc[sklearn]"``); ``import
nnfunc`` never loads scikit-learn. The constructors take scikit-learn's
parameters, with its names, defaults and meanings, and the fitted
estimators carry its attributes (``coefs_``, ``intercepts_``, ``loss_``,
``loss_curve_``, ``n_iter_``, ...), so grids, pipelines and scripts
written for scikit-learn's MLP run unchanged. nnfunc does the arithmetic:
``nnfunc.value_and_grad`` with the output layer the targets call for
(``nnfunc.outputs``), nnfunc's optimizers for 'sgd' and 'adam', and
SciPy's L-BFGS-B on ``value_and_grad`` for 'lbfgs'.

The judge is scikit-learn's own test file: tests/test_sklearn_suite.py runs
``sklearn/neural_network/tests/test_mlp.py`` from the installed
scikit-learn with this import in place of its own, and every test passes
but the 6 that read scikit-learn's private internals. ``check_estimator``
passes for both estimators with no expected failures.
"""

try:
    import scipy.optimize  # noqa: F401  (scikit-learn's own dependency: L-BFGS-B)
    import sklearn  # noqa: F401
except ImportError as exc:  # the core does not depend on scikit-learn
    raise ModuleNotFoundError(f'nnfunc.sklearn needs scikit-learn ({exc}): pip install "nnfunc[sklearn]"',
                              name="sklearn") from exc

from nnfunc.sklearn._estimators import MLPClassifier, MLPRegressor

# check name -> why an estimator cannot meet it; pass it to check_estimator(expected_failed_checks=...)
EXPECTED_FAILED_CHECKS = {}

__all__ = ["MLPClassifier", "MLPRegressor", "EXPECTED_FAILED_CHECKS"]
