"""Loading the Feast repository (``feature_repo/``) for one workspace.

Feast's convention is kept: the repo folder is put on ``sys.path`` and each file is imported
by its own name, so view files can ``from entities import customer`` and service files
(``services.py``, ``services_<topic>.py``) can import the views, exactly as ``feast apply``
would run them. Files are re-imported on each load because their source paths depend on the
workspace being loaded.
"""

from __future__ import annotations

import importlib
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

from segflow.errors import SegflowError
from segflow.featurestore.transform import Transformation, loading
from segflow.settings import Settings

ENTITIES = "entities.py"
_imported: set[str] = set()  # module names imported from a repo by earlier loads


@dataclass(frozen=True)
class View:
    """A feature view with what it takes to build it."""

    name: str
    feature_view: object  # feast.FeatureView
    transformation: Transformation
    path: Path
    entity: str
    join_key: str

    @property
    def features(self) -> list[str]:
        return [f.name for f in self.feature_view.features]


@dataclass
class Repo:
    entities: dict = field(default_factory=dict)   # name -> feast.Entity
    views: dict[str, View] = field(default_factory=dict)
    services: dict = field(default_factory=dict)   # name -> feast.FeatureService

    def objects(self) -> list:
        return [*self.entities.values(), *(v.feature_view for v in self.views.values()),
                *self.services.values()]

    def views_of(self, entity: str) -> list[View]:
        return [v for v in self.views.values() if v.entity == entity]

    def views_reading(self, tables: set[str], repo_dir: Path) -> list[str]:
        """The views whose SQL reads any of ``tables`` (canonical tables), directly or
        through a relation derived from them (``config/derived.yaml``): those a load that
        changed ``tables`` makes stale."""
        from segflow.featurestore.engine import underlying_tables

        return sorted(name for name, view in self.views.items() if tables &
                      underlying_tables(repo_dir, set(view.transformation.sources)))

    def join_key(self, entity: str) -> str:
        if entity not in self.entities:
            raise SegflowError(f"unknown entity '{entity}'; known: {sorted(self.entities)}")
        return self.entities[entity].join_key


def service_files(repo_dir: Path) -> list[Path]:
    """Files of feature services: ``services.py`` and ``services_<topic>.py``, so a project
    can keep the services of each use case apart (a starter takes only its own)."""
    return sorted(p for p in Path(repo_dir).glob("services*.py")
                  if p.stem == "services" or p.stem.startswith("services_"))


def view_files(repo_dir: Path) -> list[Path]:
    """Every feature view file: any top-level .py other than entities.py and service files."""
    skip = {ENTITIES, *(p.name for p in service_files(repo_dir))}
    return sorted(p for p in Path(repo_dir).glob("*.py")
                  if p.name not in skip and not p.name.startswith("_"))


def _import_all(repo_dir: Path, files: list[Path]) -> dict[Path, object]:
    repo_dir = repo_dir.resolve()
    for name in _imported | {p.stem for p in files}:
        module = sys.modules.get(name)
        if module is not None and (name in _imported or Path(
                getattr(module, "__file__", "") or "").resolve().parent == repo_dir):
            del sys.modules[name]
    _imported.update(p.stem for p in files)
    sys.path.insert(0, str(repo_dir))
    try:
        modules = {}
        for path in files:
            module = importlib.import_module(path.stem)
            if Path(module.__file__).resolve() != path.resolve():
                raise SegflowError(f"{path}: its name clashes with the installed module "
                                   f"{module.__file__}; rename the file")
            modules[path] = module
        return modules
    finally:
        sys.path.remove(str(repo_dir))


def _objects(module, kind) -> list:
    return [v for v in vars(module).values() if isinstance(v, kind)]


def load_repo(settings: Settings) -> Repo:
    """Import the repo files for this workspace and collect entities, views and services."""
    from feast import Entity, FeatureService

    repo_dir = settings.feature_repo_dir
    services = service_files(repo_dir)
    files = [repo_dir / ENTITIES, *view_files(repo_dir), *services]
    with loading(settings):
        modules = _import_all(repo_dir, [f for f in files if f.exists()])
    repo = Repo()
    for path, module in modules.items():
        if path.name == ENTITIES:
            repo.entities = {e.name: e for e in _objects(module, Entity)}
        elif path in services:
            repo.services.update({s.name: s for s in _objects(module, FeatureService)})
        else:
            repo.views[path.stem] = _view(path, module, repo.entities)
    return repo


def _view(path: Path, module, entities: dict) -> View:
    from feast import FeatureView

    views, transforms = _objects(module, FeatureView), _objects(module, Transformation)
    if len(views) != 1 or len(transforms) != 1:
        raise SegflowError(f"{path}: a view file defines exactly one FeatureView and one "
                           f"Transformation (found {len(views)} and {len(transforms)})")
    fv = views[0]
    if fv.name != path.stem:
        raise SegflowError(f"{path}: the FeatureView is named '{fv.name}'; name it after its "
                           f"file, '{path.stem}'")
    if len(fv.entities) != 1 or fv.entities[0] not in entities:
        raise SegflowError(f"{path}: a view has one entity from entities.py, got {fv.entities}")
    entity = entities[fv.entities[0]]
    return View(fv.name, fv, transforms[0], path, entity.name, entity.join_key)


def write_feature_store_yaml(settings: Settings) -> Path:
    """The repo's template as the workspace's Feast configuration. Its paths are relative
    to the feast folder (Feast resolves them there), so a moved workspace keeps working;
    ``${feast_dir}``, which older templates used, is still filled in."""
    template = (settings.feature_repo_dir / "feature_store.yaml").read_text(encoding="utf-8")
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    target = settings.feast_dir / "feature_store.yaml"
    text = string.Template(template).substitute(feast_dir=str(settings.feast_dir))
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def feature_store(settings: Settings):
    """A ``feast.FeatureStore`` for the workspace (registry and online store under feast/)."""
    from feast import FeatureStore

    yaml_path = write_feature_store_yaml(settings)
    return FeatureStore(repo_path=str(settings.feast_dir), fs_yaml_file=yaml_path)


def apply(settings: Settings, repo: Repo | None = None):
    """Register the repo's objects with Feast, removing views and services no longer in it."""
    repo = repo or load_repo(settings)
    store = feature_store(settings)
    stale = [fv for fv in store.list_feature_views() if fv.name not in repo.views]
    stale += [s for s in store.list_feature_services() if s.name not in repo.services]
    store.apply(repo.objects(), objects_to_delete=stale, partial=not stale)
    return store
