"""The feature catalogue: what each feature means, who owns it and where it comes from,
read from the Feast objects themselves so the catalogue cannot drift from the repo."""

from __future__ import annotations

import pyarrow as pa

from segflow.featurestore.repo import Repo, View


def feature_rows(view: View) -> list[dict]:
    fv = view.feature_view
    return [{"view": view.name, "entity": view.entity, "feature": f.name,
             "type": str(f.dtype), "description": f.description, "owner": fv.owner,
             "tags": ",".join(f"{k}={v}" for k, v in sorted(fv.tags.items())),
             "ttl_days": fv.ttl.total_seconds() / 86400 if fv.ttl else None}
            for f in fv.features]


def catalogue(repo: Repo) -> pa.Table:
    """One row per feature: view, entity, feature, type, description, owner, tags, ttl."""
    rows = [row for view in repo.views.values() for row in feature_rows(view)]
    return pa.Table.from_pylist(rows)


def describe_view(view: View) -> dict:
    """Everything ``segflow features show`` prints about one view."""
    fv = view.feature_view
    return {"name": view.name, "entity": view.entity, "join_key": view.join_key,
            "description": fv.description, "owner": fv.owner, "tags": dict(fv.tags),
            "ttl_days": fv.ttl.total_seconds() / 86400 if fv.ttl else None,
            "source": fv.batch_source.path, "file": str(view.path),
            "sources": list(view.transformation.sources),
            "params": dict(view.transformation.params),
            "config_tables": sorted(view.transformation.tables),
            "features": feature_rows(view), "sql": view.transformation.sql.strip("\n")}


def descriptions(repo_dir) -> dict[str, str]:
    """Feature -> its Feast field description, read from the repo's files without importing
    Feast (which costs seconds; a page that names a feature needs only the words).

    Reads every ``Field(name="...", description="...")`` with literal strings."""
    import ast
    from pathlib import Path

    out: dict[str, str] = {}
    for path in sorted(Path(repo_dir).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Field":
                kw = {k.arg: k.value.value for k in node.keywords
                      if isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
                if "name" in kw and kw.get("description"):
                    out.setdefault(kw["name"], kw["description"])
    return out
