"""Starter projects: what ``segflow init DIR --starter NAME`` writes.

A starter is a segflow project shipped as package data under ``segflow.starters.<name>``:
a ``segflow.yaml`` at its top and the parts it names (contracts, feature repo, templates,
models, owners, ...). ``init`` copies the ``segflow.yaml`` and every file of those parts,
nothing else, so a starter can be a folder that also holds other things.

- ``blank``: a minimal retail project to adapt to one's own data.
- ``holi``: this repository's own project, mapped into the wheel by setuptools'
  ``package-dir`` (``segflow.starters.holi`` is the repository root), so the starter and the
  project the tests and demos run are the same files and cannot drift apart.
- ``accounts``: the B2B account-tier project, derived from the holi starter: its folder holds
  its own ``segflow.yaml`` and a ``starter.yaml`` naming the files it takes from holi's
  parts (the account feature views, tier templates and campaign, account models, the
  contracts of its tables), so no file exists twice.

Why refuse to overwrite: a project is what a team has edited and reviewed; ``init`` writes
into an existing folder (one holding data files or a ``.git``) but never replaces a file
there unless told to (``--force``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from segflow.errors import EnvironmentFailure, SegflowError

STARTERS = ("blank", "holi", "accounts")
DEFAULT = "blank"
DEMOS = {"holi", "accounts"}  # starters `segflow demo NAME` runs end to end
GITIGNORE = ("# what segflow runs write (see segflow.yaml's workspace)\nworkspace/\n"
             "# the customer data exports a project reads (docs/own-data.md)\ndata/\n")


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


def next_step(name: str) -> str:
    """What to run after ``segflow init --starter name``."""
    if name in DEMOS:
        return f"segflow demo {name}"
    return "edit segflow.yaml and sources.yaml (docs/own-data.md)"


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


def starter_files(name: str) -> list[tuple[Path, Path]]:
    """(source file, path in the new project) of every file starter ``name`` writes."""
    root = starter_root(name)
    manifest = root / "starter.yaml"
    if not manifest.is_file():
        return [(root / rel, rel) for rel in project_files(root)]
    return [(root / "segflow.yaml", Path("segflow.yaml")), *_derived(root, manifest)]


def _derived(root: Path, manifest: Path) -> list[tuple[Path, Path]]:
    """The files a derived starter takes from its base starter's parts (see starter.yaml)."""
    import yaml

    from segflow.project import load_project

    spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    base, own = load_project(starter_root(spec["from"])), load_project(root)
    files = []
    for part, patterns in spec["take"].items():
        source, dest = base.path(part), own.path(part).relative_to(own.root)
        if patterns == "all":
            files.append((source, dest))
            continue
        for pattern in patterns:
            found = sorted(p for p in source.glob(pattern) if p.is_file())
            if not found:
                raise EnvironmentFailure(f"{manifest}: {part}/{pattern} matches no file of "
                                         f"the {spec['from']} starter; reinstall segflow")
            files += [(p, dest / p.relative_to(source)) for p in found]
    return files


def init_project(dest: Path, starter: str = DEFAULT, force: bool = False) -> Written:
    """Write starter ``starter`` into ``dest`` (created if absent). Refuses, changing
    nothing, when ``dest`` is a file or already holds a file the starter would write, unless
    ``force`` (then those files are replaced); other files in ``dest`` are left alone."""
    plan = starter_files(starter)
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise SegflowError(f"{dest} is a file; segflow init needs a folder (new or existing)")
    clashes = [rel for _, rel in plan if (dest / rel).exists()]
    if clashes and not force:
        shown = ", ".join(str(f) for f in clashes[:3]) + (" ..." if len(clashes) > 3 else "")
        raise SegflowError(f"{dest} already holds {len(clashes)} file(s) the {starter} starter "
                           f"would write ({shown}); choose an empty folder, or pass --force "
                           "to replace them")
    files = [rel for _, rel in plan]
    try:
        for source, rel in plan:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / rel)
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
