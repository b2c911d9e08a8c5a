"""Did-you-mean: the known names nearest to one a person typed.

One rule for every message that suggests a name (template keys and columns, campaigns,
source columns, people of the owners file), in the core so that every stage may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(name: str, known: Iterable[str], n: int = 3) -> str:
    """' (did you mean a, b?)' from difflib, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""
