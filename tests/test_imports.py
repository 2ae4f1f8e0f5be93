"""The architecture rules, read from the source with ``ast``.

Data flows one way: nothing imports the CLIs, only ``plots`` imports
matplotlib, the gradient checker imports no model code, and ``import nnfunc``
stays light (no matplotlib, no tqdm).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nnfunc"
CLIS = ("nnfunc.train", "nnfunc.evaluate", "nnfunc.predict")
MODEL_CODE = ("nnfunc.model", "nnfunc.activations", "nnfunc.losses")


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source, module, is_package=False):
    """Every module a source file imports, absolute: ``from a import b`` gives both a and a.b.

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
            names.add(base)
            # the imported name may be a submodule (from nnfunc import train)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def all_modules():
    """{module name: set of imported names} for every file of the package."""
    return {
        module_name(path): imported_names(path.read_text(), module_name(path), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def imports(names, target):
    return any(n == target or n.startswith(target + ".") for n in names)


MODULES = all_modules()


def test_the_package_is_found():
    assert {"nnfunc", "nnfunc.fit", "nnfunc.plots", "nnfunc.train", "nnfunc.gradcheck"} <= set(MODULES)
    assert {"nnfunc.gradcheck", "nnfunc.gradcheck.core"} <= set(GRADCHECK)


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


def test_nothing_imports_the_clis():
    offenders = {m: sorted(n for n in names if any(imports({n}, c) for c in CLIS))
                 for m, names in MODULES.items() if m not in CLIS}
    assert {m: n for m, n in offenders.items() if n} == {}


def test_only_plots_imports_matplotlib():
    users = sorted(m for m, names in MODULES.items() if imports(names, "matplotlib"))
    assert users == ["nnfunc.plots"]


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


GRADCHECK = sorted(m for m in MODULES if m.startswith("nnfunc.gradcheck") and not m.endswith("__main__"))


@pytest.mark.parametrize("module", GRADCHECK)
def test_gradcheck_imports_no_model_code(module):
    direct = {n for n in MODULES[module] if any(imports({n}, t) for t in MODEL_CODE)}
    assert direct == set()
    reached = internal_closure(module)
    assert not any(imports(reached, t) for t in MODEL_CODE), sorted(reached)
    assert not imports(MODULES[module], "nnfunc.netcheck")


def test_import_nnfunc_stays_light():
    heavy = ("matplotlib", "tqdm")
    code = f"import sys, nnfunc; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m in {CLIS!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
