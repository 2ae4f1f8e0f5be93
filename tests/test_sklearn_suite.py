"""scikit-learn's own MLP tests (test_mlp.py from the installed wheel), run against nnfunc.sklearn.

Nothing of the file is copied into this repository: the test reads it from
the installed scikit-learn, swaps its one import line of the estimators
for nnfunc's, and runs it with pytest in a temporary directory. Every
test must pass but the ones named in ``PRIVATE``, which read scikit-learn's
private internals (its ``_backprop``, ``_optimizer`` and
``_no_improvement_count``) rather than the estimators' behaviour. A test
that fails, errors, is skipped or is expected to fail fails this test.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

THEIRS = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
OURS = "from nnfunc.sklearn import MLPClassifier, MLPRegressor\n"
PRIVATE = ("test_fit", "test_gradient", "test_learning_rate_warmstart", "test_adaptive_learning_rate",
           "test_n_iter_no_change", "test_n_iter_no_change_inf")
# scikit-learn's conftest gives this fixture; its seeds come from the same variable as there
CONFTEST = '''
import os
import pytest


def _seeds():
    spec = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42")
    if spec == "all":
        return list(range(100))
    low, _, high = spec.partition("-")
    return list(range(int(low), int(high or low) + 1))


def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", _seeds())
'''


def their_file():
    return Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"


@pytest.mark.slow
def test_scikit_learns_test_mlp_passes_with_nnfunc_estimators(tmp_path):
    source = their_file().read_text()
    assert source.count(THEIRS) == 1, f"the import line to swap is not in {their_file()} once"
    for name in PRIVATE:  # the exclusions must still name tests of the file
        assert f"\ndef {name}(" in source, name
    (tmp_path / "test_mlp.py").write_text(source.replace(THEIRS, OURS))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    deselect = [arg for name in PRIVATE for arg in ("--deselect", f"test_mlp.py::{name}")]
    run = subprocess.run([sys.executable, "-m", "pytest", "test_mlp.py", "-q", "-p", "no:cacheprovider",
                          f"--junitxml={report}", *deselect], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, timeout=1800)
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = {case.get("name"): [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
                for case in cases}
    bad = {name: tags for name, tags in outcomes.items() if tags}
    assert not bad and run.returncode == 0, f"{bad}\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    ran = {name.split("[")[0] for name in outcomes}
    defined = {line[4:].split("(")[0] for line in source.splitlines() if line.startswith("def test_")}
    assert ran == defined - set(PRIVATE), f"not run: {sorted(defined - set(PRIVATE) - ran)}"
    assert "imported from nnfunc" in subprocess.run(
        [sys.executable, "-c", "import test_mlp, nnfunc.sklearn as ns; "
                               "assert test_mlp.MLPClassifier is ns.MLPClassifier; print('imported from nnfunc')"],
        cwd=tmp_path, capture_output=True, text=True).stdout
