"""README stays true: its API tour runs as written, and CI reads its test command."""

import re
import subprocess
import sys

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_api_tour_runs_as_written():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README lost its python tour"
    out = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "OK: max relative error" in out.stdout


def test_ci_runs_the_readme_test_command():
    marked = re.findall(r"<!-- test-command -->\n```\n(.*?)\n```\n<!-- /test-command -->", README, flags=re.S)
    assert len(marked) == 1 and marked[0].startswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and 'eval "$cmd"' in ci


def test_first_command_installs_and_trains():
    assert 'pip install -e ".[dev]" && python -m nnfunc.train' in README
