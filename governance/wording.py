"""Movement reasons in a reader's words: feature names read as words ("days since last
activity", "monetary in 365 days") with a glossary of their Feast field descriptions beside
the story, rule syntax becomes prose, suppressions are named by their titles, long decimals
are rounded. Only words change: the counts a page shows are the rows of
``movement.parquet``."""

from __future__ import annotations

import re

RANKING = "no clause changed: ranking or cohort priority decided"
PHRASES = {RANKING: "ranked out or in, or taken by a higher-priority cohort (no rule value "
                    "changed)"}
BETWEEN = re.compile(r"\b([a-z_][a-z0-9_]*) BETWEEN (\S+) AND (\S+)", re.I)
IN_LIST = re.compile(r"\b([a-z_][a-z0-9_]*) IN \(([^)]*)\)", re.I)
DECIMAL = re.compile(r"(?<![\w.])(-?\d+\.\d{3,})(?![\w.])")
SUPPRESSED = re.compile(r"(suppressed by )([a-z0-9_]+)")
WORD = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")  # snake_case names


OPERATORS = [(" >= ", " at least "), (" <= ", " at most "), (" <> ", " is not "),
             (" != ", " is not "), (" > ", " above "), (" < ", " below "), (" = ", " is ")]
WINDOW = re.compile(r"_(\d+)d\b")


def spoken(name: str) -> str:
    """'monetary_365d' -> 'monetary in 365 days'; 'holi_propensity' -> 'holi propensity'."""
    return WINDOW.sub(lambda m: f" in {m.group(1)} days", name).replace("_", " ")


class Wording:
    """Turns one reason into prose; built once per page from the run's glossary."""

    def __init__(self, features: dict[str, str], titles: dict[str, str]):
        self.features = features  # feature -> its description (the glossary)
        self.titles = titles  # suppression names -> their titles
        self.used: set[str] = set()

    def _name(self, m: re.Match) -> str:
        name = m.group(0)
        if name in self.features:
            self.used.add(name)
        return spoken(name)

    def glossary(self) -> list[tuple[str, str]]:
        """(words, description) of every feature the reasons named so far."""
        return [(spoken(n), self.features[n]) for n in sorted(self.used)]

    def __call__(self, reason: str | None) -> str:
        if not reason:
            return ""
        text = PHRASES.get(reason, reason)
        text = BETWEEN.sub(lambda m: f"{m.group(1)} between {m.group(2)} and {m.group(3)}",
                           text)
        text = IN_LIST.sub(lambda m: f"{m.group(1)} one of {m.group(2).replace(chr(39), '')}",
                           text)
        for op, words in OPERATORS:
            text = text.replace(op, words)
        text = DECIMAL.sub(lambda m: f"{float(m.group(1)):.2f}".rstrip("0").rstrip("."), text)
        parts = SUPPRESSED.split(text)  # titles are left as they are written
        out = []
        for i, part in enumerate(parts):
            if i % 3 == 2:
                out.append(self.titles.get(part, spoken(part)))
            else:
                out.append(WORD.sub(self._name, part))
        return "".join(out)


def wording_for(ctx) -> Wording:
    """The run's glossary: feature descriptions of its project's feature repo, the titles
    of its frozen templates."""
    from segflow.featurestore.catalogue import descriptions

    titles = {}
    for path in sorted(ctx.settings.templates_dir.glob("*.yaml")):
        from segflow.yamlio import load_yaml

        try:
            titles[path.stem] = (load_yaml(path) or {}).get("title") or path.stem
        except Exception:  # noqa: BLE001  (an unreadable template keeps its name)
            continue
    try:
        features = descriptions(ctx.settings.feature_repo_dir)
    except Exception:  # noqa: BLE001  (no repo: names stay as they are)
        features = {}
    return Wording(features, titles)
