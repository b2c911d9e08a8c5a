"""Numbers as a reader expects them: counts grouped, money in the project's currency with
its units (lakh and crore for rupees), shares as percentages.

Every page segflow writes formats through these functions (as Jinja filters), so one figure
reads the same on the report, the movement page and the monitoring pages.
"""

from __future__ import annotations

import math

# until a project names its base_currency (segflow.yaml), money is in the currency the
# canonical tables are converted to
DEFAULT_CURRENCY = "INR"
SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
# currencies whose readers group digits the Indian way (12,34,567) and speak in lakh, crore
INDIAN = {"INR"}


def currency_of(settings) -> str:
    """The project's base currency (``segflow.yaml``'s ``base_currency``)."""
    project = getattr(settings, "project", None)
    return getattr(project, "base_currency", None) or DEFAULT_CURRENCY


def _missing(x) -> bool:
    """None, NaN, pandas' NA and NaT: shown as a blank cell."""
    return x is None or type(x).__name__ in ("NAType", "NaTType") or (
        isinstance(x, float) and math.isnan(x))


def _group_indian(digits: str) -> str:
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join(([head] if head else []) + pairs + [tail])


class Formatter:
    """Formats for one currency (and the digit grouping its readers use)."""

    def __init__(self, currency: str = DEFAULT_CURRENCY):
        self.currency = currency
        self.indian = currency in INDIAN
        self.symbol = SYMBOLS.get(currency)

    def count(self, n) -> str:
        """12,34,567 (Indian grouping) or 1,234,567; blank for a missing value."""
        if _missing(n):
            return ""
        n = int(round(n))
        text = _group_indian(str(abs(n))) if self.indian else f"{abs(n):,}"
        return ("-" if n < 0 else "") + text

    def number(self, x, digits: int = 2) -> str:
        """A measured value: grouped, at most ``digits`` decimals, trailing zeros dropped."""
        if _missing(x):
            return ""
        if isinstance(x, bool):
            return "yes" if x else "no"
        if float(x).is_integer() and abs(x) >= 1:
            return self.count(x)
        if abs(x) >= 100:
            digits = 0 if abs(x) >= 10_000 else 1
        text = f"{abs(x):.{digits}f}".rstrip("0").rstrip(".") or "0"
        whole, _, frac = text.partition(".")
        whole = self.count(int(whole))
        return ("-" if x < 0 and text != "0" else "") + whole + ("." + frac if frac else "")

    def _unit(self, x: float) -> tuple[float, str]:
        if self.indian:
            for size, word in ((1e7, " crore"), (1e5, " lakh")):
                if abs(x) >= size:
                    return x / size, word
            return x, ""
        for size, word in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if abs(x) >= size:
                return x / size, word
        return x, ""

    def _with_currency(self, text: str, negative: bool) -> str:
        sign = "-" if negative else ""
        if self.symbol:
            return f"{sign}{self.symbol}{text}"
        return f"{sign}{text} {self.currency}"

    def money(self, x) -> str:
        """Short money for pages: ₹90.67 crore, ₹4.5 lakh, ₹12,345; $906.7M elsewhere."""
        if _missing(x):
            return ""
        value, unit = self._unit(abs(float(x)))
        if unit:
            text = f"{value:,.2f}".rstrip("0").rstrip(".") + unit
        else:
            text = self.count(value)
        return self._with_currency(text, float(x) < 0)

    def money_exact(self, x) -> str:
        """Money to the paisa/cent, for reconciliations: ₹90,67,49,762.09."""
        if _missing(x):
            return ""
        whole, frac = f"{abs(float(x)):.2f}".split(".")
        return self._with_currency(f"{self.count(int(whole))}.{frac}", float(x) < 0)

    def pct(self, share, digits: int = 1) -> str:
        """A share 0..1 as a percentage: 0.4341 -> 43.4%."""
        if _missing(share):
            return ""
        return f"{float(share) * 100:.{digits}f}%"

    def points(self, diff, digits: int = 1) -> str:
        """A difference of two shares in percentage points, signed: 0.0123 -> +1.2 pts."""
        if _missing(diff):
            return ""
        return f"{float(diff) * 100:+.{digits}f} pts"

    def filters(self) -> dict:
        return {"count": self.count, "num": self.number, "money": self.money,
                "money_exact": self.money_exact, "pct": self.pct, "points": self.points}
