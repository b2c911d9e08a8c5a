"""One look for every page segflow writes (refresh report, movement, drift, trends,
feedback): a Jinja base template with one stylesheet and one small script (sortable,
filterable tables), the number formats of ``fmt`` as filters and the SVG charts of
``charts``. Pages are single self-contained files: they open from a ticket attachment or a
laptop with no network.

A stage renders its own template, which extends ``base.html.j2``::

    write(path, env(settings, extra=MY_TEMPLATES), "report.html.j2", run=...)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent


def env(settings=None, extra: Path | None = None, currency: str | None = None):
    """A Jinja environment that finds ``extra``'s templates, then the shared ones; numbers
    formatted for the project's currency."""
    from segflow.pages.fmt import currency_of

    return _env(str(extra) if extra else None, currency or currency_of(settings))


@lru_cache(maxsize=8)
def _env(extra: str | None, currency: str):
    """One environment per templates folder and currency: compiling the templates costs
    more than rendering them."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from segflow.pages import charts
    from segflow.pages.fmt import Formatter

    folders = [extra] if extra else []
    e = Environment(loader=FileSystemLoader([*folders, str(HERE)]),
                    autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                    trim_blocks=True, lstrip_blocks=True)
    f = Formatter(currency)
    e.filters.update(f.filters())
    e.globals.update(fmt=f, stacked_bars=charts.stacked_bars, asset=_asset)
    return e


def _asset(name: str) -> str:
    """The stylesheet or script, inlined in each page."""
    return (HERE / name).read_text(encoding="utf-8")


def render(environment, template: str, **values) -> str:
    return environment.get_template(template).render(**values)


def write(path: Path, environment, template: str, **values) -> Path:
    """Render and replace ``path`` atomically (a reader never sees half a page)."""
    from segflow.durable import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(environment, template, **values).encode("utf-8"))
    return path
