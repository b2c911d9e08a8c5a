"""The layering of docs/architecture.md and an acyclic governance package, checked by
import-linter over every import (those inside functions too)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).parent / "lint-imports")


def _lint(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--config", str(config), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True)


def test_the_project_keeps_its_contracts():
    out = _lint(ROOT / "pyproject.toml", ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def test_the_contract_catches_a_cycle_through_a_lazy_import(tmp_path):
    """The acyclic contract is not a formality: a cycle closed by an import inside a
    function (how the seven governance modules used to loop) breaks it."""
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loopy import b\n")
    (pkg / "b.py").write_text("def f():\n    from loopy import a\n    return a\n")
    config = tmp_path / "pyproject.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["loopy"]
        [[tool.importlinter.contracts]]
        name = "no cycle"
        type = "acyclic_siblings"
        ancestors = ["loopy"]
    """))
    out = _lint(config, tmp_path)
    assert out.returncode == 1 and "no cycle BROKEN" in out.stdout
