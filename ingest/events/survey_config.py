"""realtime.yaml's ``surveys:`` section: one mapping per survey tool, saying where in the
tool's payload the customer id is, which question is the NPS one, which multiple-choice
questions to keep (and under which question name), and which environment variable holds
the tool's signing secret.

```yaml
surveys:
  typeform:
    secret_env: TYPEFORM_WEBHOOK_SECRET
    customer: hidden.customer_id        # a path in the response (dots between keys)
    nps: nps_score                      # the NPS question's id in the tool (Typeform: field ref)
    choices: {preferred_offer: offer_ref}   # survey_responses.question: the tool's question id
                                        # (at most one: the table holds one per response)
    comment: why_ref                    # optional: a free-text question
    values: {}                          # optional: the tool's answer id -> answer or score
```

Platform code names no question: the business's form ids live here. Every key is checked
strictly; a mistake names the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segflow.errors import ConfigError

TOOLS = ("typeform", "surveymonkey", "zigpoll")
REQUIRED = ("secret_env", "customer", "nps")
OPTIONAL = ("choices", "comment", "values")


@dataclass(frozen=True)
class SurveyMapping:
    """How one tool's response becomes a ``survey_responses`` row."""

    tool: str
    secret_env: str
    customer: tuple[str, ...]          # path of keys into the response
    nps: str                           # the tool's id of the NPS question
    choices: dict[str, str] = field(default_factory=dict)   # question name -> tool's id
    comment: str | None = None
    values: dict[str, str] = field(default_factory=dict)    # tool's answer id -> value


def _line(data, key) -> int | None:
    return data.line(key) if hasattr(data, "line") else None


def _text(path: Path, spec, key: str, tool: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ConfigError(path, _line(spec, key) or getattr(spec, "start_line", None),
                          f"surveys.{tool}.{key} must be a non-empty string")
    return str(value)


def _pairs(path: Path, spec, key: str, tool: str) -> dict[str, str]:
    value = spec.get(key) or {}
    if not isinstance(value, dict) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()):
        raise ConfigError(path, _line(spec, key), f"surveys.{tool}.{key} must map names to "
                                                  "strings ({question: the tool's question id})")
    return {str(k): str(v) for k, v in value.items()}


def parse_surveys(path: Path, data) -> dict[str, SurveyMapping]:
    """{tool: mapping} of realtime.yaml's ``surveys:`` (empty when absent)."""
    section = data.get("surveys") or {}
    if not isinstance(section, dict):
        raise ConfigError(path, _line(data, "surveys"), "'surveys' must map a survey tool "
                          f"({', '.join(TOOLS)}) to its mapping")
    out = {}
    for tool, spec in section.items():
        if tool not in TOOLS:
            raise ConfigError(path, _line(section, tool), f"unknown survey tool '{tool}'; "
                              f"supported: {', '.join(TOOLS)}")
        if not isinstance(spec, dict):
            raise ConfigError(path, _line(section, tool), f"surveys.{tool} must be a mapping "
                              f"with {', '.join(REQUIRED)}")
        for key in spec:
            if key not in REQUIRED + OPTIONAL:
                raise ConfigError(path, _line(spec, key), f"unknown key '{key}' in surveys."
                                  f"{tool}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
        for key in REQUIRED:
            if key not in spec:
                raise ConfigError(path, _line(section, tool), f"surveys.{tool} needs {key}")
        comment = spec.get("comment")
        if len(_pairs(path, spec, "choices", tool)) > 1:
            raise ConfigError(path, _line(spec, "choices"), f"surveys.{tool}.choices names "
                              "more than one question; the surveys table holds one "
                              "multiple-choice answer per response")
        out[tool] = SurveyMapping(
            tool=tool, secret_env=_text(path, spec, "secret_env", tool),
            customer=tuple(_text(path, spec, "customer", tool).split(".")),
            nps=_text(path, spec, "nps", tool), choices=_pairs(path, spec, "choices", tool),
            comment=None if comment is None else _text(path, spec, "comment", tool),
            values=_pairs(path, spec, "values", tool))
    return out
