"""The layering of docs/architecture.md and an acyclic governance package, checked by
import-linter over every import (those inside functions too)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).parent / "lint-imports")


def _lint(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([LINT, "--config", str(config), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True, env=env)


def installed_layout(target: Path) -> Path:
    """The Python files laid out as the wheel installs them (ingest/ as segflow/ingest/,
    ...): import-linter reads a package from its folder, and in the repository the stage
    folders sit beside segflow/, not inside it."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for name, folder in setuptools["package-dir"].items():
        if name.startswith("segflow.starters."):
            continue  # a starter project's files (its feature repo), not segflow's code
        for source in (ROOT / folder).rglob("*.py"):
            rel = source.relative_to(ROOT / folder)
            if rel.parts[0] in {n.split(".")[-1] for n in setuptools["package-dir"]
                                if n.count(".") == 1} and name == "segflow":
                continue  # a stage folder of its own, copied under its own name
            dest = target.joinpath(*name.split("."), rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
    return target


def test_the_project_keeps_its_contracts(tmp_path):
    out = _lint(ROOT / "pyproject.toml", installed_layout(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 3 kept, 0 broken." in out.stdout


def test_every_core_module_is_held_to_the_core_contract():
    """The forbidden contract lists the core modules by name: a new one must be added, or
    it could import a stage unnoticed."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [core] = [c for c in config["contracts"] if c["type"] == "forbidden"]
    stages = {m.removeprefix("segflow.") for m in core["forbidden_modules"]}
    found = {f"segflow.{p.stem if p.is_file() else p.name}" for p in (ROOT / "segflow").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert found - {"segflow.cli", "segflow.commands"} == set(core["source_modules"])
    assert stages == {"ingest", "training", "scoring", "governance", "monitoring", "flows"}


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
