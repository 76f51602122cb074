"""The one rule for numbers shown to people: terminal, report, charts and verdict text.

- significant digits, not fixed decimals: 3 by default (4 for quality metrics, where the
  fourth digit separates candidates), trailing zeros dropped (0.5, not 0.500);
- never exponent notation between 1e-6 and 1e15: 0.0000254, not 2.54e-05; below 1e-6 the
  exponent is clearer than a row of zeros (6.56e-07);
- 1,000 and above: whole numbers with thousands separators (1,129,438);
- dollars: whole from $100 ($1,234), cents from $1 ($65.15), significant digits below
  ($0.0000254), never an exponent however small ($0.000000983: a price is read, not compared
  by magnitude);
- the unit after the number, with a space (4.75 ms), except % and $.
"""

from __future__ import annotations

import math

MISSING = "-"


def number(value, sig: int = 3) -> str:
    """`value` to `sig` significant digits by the rule above; '-' for None or NaN."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    value = float(value)
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e15 or magnitude < 1e-6:
        mantissa, exponent = f"{value:.{sig - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{exponent}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    decimals = max(0, sig - 1 - math.floor(math.log10(magnitude)))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    # rounding can carry into a new digit (999.96 -> 1000.0): format again as a whole number
    if abs(float(text)) >= 1000:
        return f"{float(text):,.0f}"
    return text


def usd(value, sig: int = 3) -> str:
    """Dollars: '$1,234', '$65.15', '$0.0000254', '-$0.5'; '-' for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{magnitude:,.0f}"
    else:
        text = f"{magnitude:.2f}" if magnitude >= 1 else _fraction(magnitude, sig)
    return f"{sign}${text}"


def _fraction(magnitude: float, sig: int) -> str:
    """A positive amount under 1 in plain decimals, however small (money never gets an
    exponent): 0.0000254, 0.000000983."""
    if magnitude == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(magnitude)))
    text = f"{magnitude:.{decimals}f}".rstrip("0").rstrip(".")
    return text if float(text) < 1 else number(float(text), sig)


def with_unit(value, unit: str, sig: int = 3) -> str:
    """'4.75 ms', '12.5%', '$0.25'; '-' for None."""
    if value is None:
        return MISSING
    if unit in ("USD", "$"):
        return usd(value, sig)
    if unit == "%":
        return f"{number(value, sig)}%"
    if unit == "share":
        return f"{number(value * 100, sig)}%"
    return f"{number(value, sig)} {unit}" if unit else number(value, sig)


def change(fraction) -> str:
    """A relative change, signed: '+12%', '-4.5%' (one decimal under 10%), '+0%'; MISSING for
    None. The one way a change is printed: `bench compare` text and page, history."""
    if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)):
        return MISSING
    pct = fraction * 100 + 0.0
    if abs(pct) >= 10:
        return f"{pct:+,.0f}%"
    return f"{pct:+.1f}%"


def ms(value, sig: int = 3) -> str:
    return with_unit(value, "ms", sig)


def seconds(value, sig: int = 3) -> str:
    return with_unit(value, "s", sig)


def metric(value) -> str:
    """A quality metric (accuracy, AUC, RMSE): 4 significant digits."""
    return number(value, 4)


def figure(value, unit: str = "") -> str:
    """A named figure in verdict and limit text: 'not measured' for None, else `with_unit`
    (4 significant digits for unit-less figures such as metrics)."""
    if value is None:
        return "not measured"
    return with_unit(value, unit, 3 if unit else 4)
