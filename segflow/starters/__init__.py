"""Starter projects: what ``segflow init DIR --starter NAME`` writes.

A starter is a segflow project shipped as package data under ``segflow.starters.<name>``:
a ``segflow.yaml`` at its top and the parts it names (contracts, feature repo, templates,
models, owners, ...). ``init`` copies the ``segflow.yaml`` and every file of those parts,
nothing else, so a starter can be a folder that also holds other things.

- ``blank``: a minimal retail project to adapt to one's own data.
- ``holi``: this repository's own project, mapped into the wheel by setuptools'
  ``package-dir`` (``segflow.starters.holi`` is the repository root), so the starter and the
  project the tests and demos run are the same files and cannot drift apart.
- ``accounts``: the B2B account-tier project (to come).

Why refuse to overwrite: a project is what a team has edited and reviewed; ``init`` writes
into an existing folder (one holding data files or a ``.git``) but never replaces a file
there unless told to (``--force``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from segflow.errors import EnvironmentFailure, SegflowError

STARTERS = ("blank", "holi")
DEFAULT = "blank"
GITIGNORE = "# what segflow runs write (see segflow.yaml's workspace)\nworkspace/\n"


@dataclass(frozen=True)
class Written:
    """What ``init`` wrote: the project folder, the starter and the files (relative)."""

    root: Path
    starter: str
    project: str
    files: tuple[Path, ...]


def starter_root(name: str) -> Path:
    """The folder holding starter ``name``'s segflow.yaml. Installed from a wheel, every
    starter is a folder beside this module; in a checkout (an editable install) the holi
    starter is the checkout itself, which setuptools maps to ``segflow.starters.holi`` only
    when it builds a wheel."""
    if name not in STARTERS:
        raise SegflowError(f"unknown starter {name!r}; starters are {', '.join(STARTERS)}")
    here = Path(__file__).resolve().parent
    candidates = [here / name]
    if name == "holi":
        candidates.append(here.parent.parent)  # <checkout>/segflow/starters -> <checkout>
    for folder in candidates:
        if (folder / "segflow.yaml").is_file():
            return folder
    raise EnvironmentFailure(f"the {name} starter is missing from this segflow installation "
                             f"(no segflow.yaml in {candidates[0]}); reinstall segflow")


def project_files(root: Path) -> list[Path]:
    """The files of the project at ``root``, relative to it: its segflow.yaml and every file
    in the parts it names that exist (caches and hidden files left out)."""
    from segflow.project import PROJECT_FILE, load_project

    project = load_project(root)
    files = [Path(PROJECT_FILE)]
    for _part, path in project.paths:
        if path.is_file():
            files.append(path.relative_to(project.root))
        elif path.is_dir():
            files += sorted(f.relative_to(project.root) for f in path.rglob("*")
                            if f.is_file() and not _skipped(f.relative_to(path)))
    return files


def _skipped(rel: Path) -> bool:
    return any(p == "__pycache__" or p.startswith(".") for p in rel.parts)


def init_project(dest: Path, starter: str = DEFAULT, force: bool = False) -> Written:
    """Write starter ``starter`` into ``dest`` (created if absent). Refuses, changing
    nothing, when ``dest`` is a file or already holds a file the starter would write, unless
    ``force`` (then those files are replaced); other files in ``dest`` are left alone."""
    source = starter_root(starter)
    files = project_files(source)
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise SegflowError(f"{dest} is a file; segflow init needs a folder (new or existing)")
    clashes = [f for f in files if (dest / f).exists()]
    if clashes and not force:
        shown = ", ".join(str(f) for f in clashes[:3]) + (" ..." if len(clashes) > 3 else "")
        raise SegflowError(f"{dest} already holds {len(clashes)} file(s) the {starter} starter "
                           f"would write ({shown}); choose an empty folder, or pass --force "
                           "to replace them")
    try:
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, dest / rel)
        ignore = dest / ".gitignore"
        if not ignore.exists():
            ignore.write_text(GITIGNORE)
            files.append(Path(".gitignore"))
    except PermissionError as exc:
        raise EnvironmentFailure(f"cannot write {exc.filename or dest}: permission denied; "
                                 "choose a folder you can write to") from None
    from segflow.project import load_project

    return Written(root=dest, starter=starter, project=load_project(dest).name,
                   files=tuple(files))
