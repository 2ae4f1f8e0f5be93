"""The architecture rules, read from the source with ``ast`` and checked in fresh interpreters.

Data flows one way through the layers; nothing imports the command line;
each heavy library loads in one module; the gradient checker imports no
model code; ``import nnfunc`` stays light; no submodule import shadows a
package attribute.
"""

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import installed

PACKAGE = Path(__file__).resolve().parent.parent / "nnfunc"
MODEL_CODE = ("nnfunc.model", "nnfunc.activations", "nnfunc.losses", "nnfunc.outputs")
# The layers, in the direction data flows: a module imports only from its own
# layer or the layers before it. The top package (the public API) comes after
# the library; only the command line, last, may import it.
LAYERS = (
    ("base", ("nnfunc._version", "nnfunc.errors", "nnfunc.params", "nnfunc.finite", "nnfunc.checks", "nnfunc.memory",
              "nnfunc.fileio", "nnfunc.npz", "nnfunc.allocator", "nnfunc.subnormals")),
    ("kernels", ("nnfunc.kernels",)),
    ("data", ("nnfunc.data",)),
    ("model", ("nnfunc.activations", "nnfunc.initializers", "nnfunc.losses", "nnfunc.outputs", "nnfunc.model",
               "nnfunc.evaluation")),
    ("optim", ("nnfunc.optim",)),
    ("verify", ("nnfunc.verify",)),
    ("training", ("nnfunc.training",)),
    ("report", ("nnfunc.report",)),
    # a whole training run as one call: data, directory, fit, metrics, plots
    ("run", ("nnfunc.training.runs",)),
    # the sweep runs training runs as trials on a cluster
    ("sweep", ("nnfunc.sweep",)),
    ("export", ("nnfunc.onnx",)),
    ("api", ("nnfunc",)),
    # an adapter to another library's conventions, built on the public API
    ("sklearn", ("nnfunc.sklearn",)),
    # the command line: flags to library calls, errors to exit codes (python -m entry points too)
    ("cli", ("nnfunc.cli", "nnfunc.__main__", "nnfunc.train", "nnfunc.sweep.__main__")),
)
SWEEP_EXTRA = installed("distributed", "optuna")
SKLEARN_EXTRA = installed("sklearn")
CLI = ("nnfunc.cli", "nnfunc.__main__", "nnfunc.train", "nnfunc.sweep.__main__")
# third-party code that only one module may load, each only where it is needed
ONLY = {
    "matplotlib": ["nnfunc.report._canvas", "nnfunc.report.curves", "nnfunc.report.pictures", "nnfunc.report.sweeps"],
    "PIL": ["nnfunc.data.image_file", "nnfunc.data.images"],
    "mnist": ["nnfunc.data.idx"],
    "urllib.request": ["nnfunc.data.download"],
    "http": ["nnfunc.data.download"],
    "tqdm": ["nnfunc.data.download", "nnfunc.training.loop"],
    "numba": ["nnfunc.kernels._numba"],
    # the [sweep] extra: Dask runs the trials, Optuna chooses them
    "distributed": ["nnfunc.sweep.engine"],
    "dask": [],
    "optuna": ["nnfunc.sweep.store"],
    "sqlalchemy": ["nnfunc.sweep.store"],  # for its errors (Optuna's SQLite storage)
    # the [sklearn] and [onnx] extras; onnxruntime only runs exported files, in the tests
    "sklearn": ["nnfunc.sklearn", "nnfunc.sklearn._base", "nnfunc.sklearn._estimators"],
    "scipy": ["nnfunc.sklearn", "nnfunc.sklearn._solvers"],  # L-BFGS-B, scikit-learn's own dependency
    "onnx": ["nnfunc.onnx"],
    "onnxruntime": [],
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source, module, is_package=False, modules=None):
    """Every module a source file imports, absolute: ``from a import b`` gives both a and a.b.

    With ``modules`` (the package's module names), ``from a import b`` gives
    only a.b when that is a module: it loads a's ``__init__`` but uses none of it.
    Imports inside functions count too: a lazy import is still an import.
    """
    names = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # the imported name may be a submodule (from nnfunc import train)
            full = [f"{base}.{alias.name}" for alias in node.names]
            names.update(full)
            if modules is None or any(name not in modules for name in full):
                names.add(base)
    return names


def all_modules():
    """{module name: set of imported names} for every file of the package."""
    paths = sorted(PACKAGE.rglob("*.py"))
    names = {module_name(path) for path in paths}
    return {module_name(path): imported_names(path.read_text(), module_name(path), path.name == "__init__.py", names)
            for path in paths}


def imports(names, target):
    return any(n == target or n.startswith(target + ".") for n in names)


MODULES = all_modules()


def test_the_package_is_found():
    assert {"nnfunc", "nnfunc.training.loop", "nnfunc.report.pictures", "nnfunc.train", "nnfunc.cli.train",
            "nnfunc.verify.checker", "nnfunc.data.download"} <= set(MODULES)
    assert {"nnfunc.verify.checker", "nnfunc.verify.probes", "nnfunc.verify.report"} == set(CHECKER)


def layer_of(module):
    """Index in LAYERS of the layer that holds ``module`` (its longest matching prefix)."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0]


def test_every_module_has_a_layer():
    assert {m: layer_of(m) for m in MODULES if layer_of(m) is None} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module):
    own = layer_of(module)
    later = sorted(n for n in MODULES[module] if n.split(".")[0] == "nnfunc" and n in MODULES
                   and layer_of(n) > own)
    assert later == [], f"{module} ({LAYERS[own][0]}) imports from later layers"


@pytest.mark.parametrize("library, allowed", sorted(ONLY.items()))
def test_heavy_libraries_load_in_one_place(library, allowed):
    users = sorted(m for m, names in MODULES.items() if imports(names, library))
    assert users == sorted(allowed)


@pytest.mark.parametrize(
    "source, module, expected",
    [
        ("import nnfunc.train", "nnfunc.x", {"nnfunc.train"}),
        ("from nnfunc import train as t", "nnfunc.x", {"nnfunc", "nnfunc.train"}),
        ("def f():\n    from . import plots", "nnfunc.x", {"nnfunc", "nnfunc.plots"}),
        ("from .core import g", "nnfunc.gradcheck", {"nnfunc.gradcheck.core", "nnfunc.gradcheck.core.g"}),
        ("from ..model import forward", "nnfunc.gradcheck.core", {"nnfunc.model", "nnfunc.model.forward"}),
        ("import matplotlib.pyplot as plt", "nnfunc.x", {"matplotlib.pyplot"}),
    ],
)
def test_import_reader_sees_every_form(source, module, expected):
    # the rules below are only as good as this reader
    is_package = module == "nnfunc.gradcheck"
    assert imported_names(source, module, is_package) == expected


def test_nothing_imports_the_command_line():
    offenders = {m: sorted(n for n in names if any(imports({n}, c) for c in CLI))
                 for m, names in MODULES.items() if not any(m == c or m.startswith(c + ".") for c in CLI)}
    assert {m: n for m, n in offenders.items() if n} == {}


def internal_closure(start):
    """nnfunc modules reachable from ``start`` through source imports (not parent packages)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        for name in MODULES.get(module, ()):
            if name in MODULES and name not in seen and name != "nnfunc":
                seen.add(name)
                todo.append(name)
    return seen


# the gradient checker proper: any loss function, no model code
CHECKER = sorted(m for m in MODULES if m.startswith("nnfunc.verify.") and m != "nnfunc.verify.network")


@pytest.mark.parametrize("module", CHECKER)
def test_the_checker_imports_no_model_code(module):
    reached = internal_closure(module) | {module}
    assert not any(imports(reached, t) for t in MODEL_CODE), sorted(reached)
    assert not imports(reached, "nnfunc.verify.network")


def test_import_nnfunc_stays_light():
    heavy = ("matplotlib", "tqdm", "PIL", "mnist", "urllib.request", "http.client", "nnfunc.cli", "nnfunc.train",
             "nnfunc.report._canvas", "nnfunc.data.download", "numba", "nnfunc.kernels.compiled", "dask",
             "distributed", "optuna", "nnfunc.sweep", "sklearn", "scipy", "onnx", "onnxruntime",
             "nnfunc.sklearn")
    code = f"import sys, nnfunc; print(sorted(m for m in sys.modules if m in {heavy!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_no_module_is_named_like_an_exported_name():
    """``import nnfunc.X`` sets ``nnfunc.X`` to the module: X must not be something nnfunc exports."""
    import nnfunc  # noqa: F401  (the loop imports every package)

    for package in {m.rpartition(".")[0] for m in MODULES if "." in m} | {"nnfunc"}:
        names = {m.rpartition(".")[2] for m in MODULES if m.rpartition(".")[0] == package}
        namespace = importlib.import_module(package)
        exported = set(getattr(namespace, "__all__", ())) | {n for n in vars(namespace) if not n.startswith("_")}
        clashes = {n for n in names & exported if not inspect.ismodule(getattr(namespace, n, None))}
        assert clashes == set(), package
    # and the top package's own submodules never share a name with its API
    assert set(nnfunc.__all__) & {m.split(".")[1] for m in MODULES if m.count(".") >= 1} == set()


def test_importing_every_submodule_replaces_no_package_attribute():
    """Import the package, note every package's attributes, import everything, compare."""
    modules = [m for m in MODULES if m not in ("nnfunc.__main__", "nnfunc.sweep.__main__")
               and (SWEEP_EXTRA or not m.startswith("nnfunc.sweep")) and (SKLEARN_EXTRA or m != "nnfunc.sklearn")]
    code = f"""
import importlib, sys
import nnfunc
packages = {sorted({m for m in MODULES if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()})!r}
for p in packages:
    importlib.import_module(p)
before = {{p: dict(vars(sys.modules[p])) for p in packages}}
for m in {modules!r}:
    importlib.import_module(m)
changed = sorted(f"{{p}}.{{k}}" for p in packages for k, v in before[p].items() if vars(sys.modules[p]).get(k) is not v)
print(changed)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_api_is_explicit_and_resolves():
    import nnfunc

    assert len(nnfunc.__all__) == len(set(nnfunc.__all__))
    missing = [n for n in nnfunc.__all__ if not hasattr(nnfunc, n)]
    assert missing == []
    internal = {"kink_pattern", "num_layers", "validate_params", "param_keys", "check_x", "as_generator"}
    assert internal & set(nnfunc.__all__) == set()
    assert {"init", "forward", "loss", "backward", "value_and_grad", "predict", "update", "gradcheck", "fit",
            "evaluate", "save", "load", "load_image", "check_network"} <= set(nnfunc.__all__)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_states_its_job(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and doc.strip().splitlines()[0].strip(), f"{path} has no one-line docstring"


def test_the_sweep_and_the_sklearn_adapter_never_import_the_command_line():
    # the sweep's trials call the library's training run, not nnfunc train's main
    library = sorted(m for m in MODULES if m.startswith("nnfunc.sweep") and m != "nnfunc.sweep.__main__")
    assert {"nnfunc.sweep.trial", "nnfunc.sweep.space", "nnfunc.sweep.engine"} <= set(library)
    for module in [*library, "nnfunc.sklearn", "nnfunc.training.runs"]:
        assert not any(imports(MODULES[module], c) for c in CLI), module
        assert layer_of(module) < layer_of("nnfunc.cli.train")
