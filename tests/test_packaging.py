"""The wheel installs one package, segflow, with the stage folders under it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_folder_with_code_or_data_is_a_listed_package():
    config = _setuptools()
    listed = set(config["packages"])
    for name, folder in config["package-dir"].items():
        if name.startswith("segflow.starters."):
            continue  # a starter mapped from the project's folders: tests/test_starters.py
        for path in [ROOT / folder, *(ROOT / folder).rglob("*")]:
            if not path.is_dir() or "__pycache__" in path.parts or not any(
                    f.is_file() for f in path.iterdir()):
                continue
            dotted = ".".join([name, *path.relative_to(ROOT / folder).parts])
            assert dotted in listed, f"{path} is not packaged: add {dotted!r} to pyproject"


def test_stage_folders_install_under_the_segflow_namespace():
    config = _setuptools()
    assert {p.split(".")[0] for p in config["packages"]} == {"segflow"}
    assert config["package-dir"]["segflow.governance"] == "governance"
