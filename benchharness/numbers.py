"""The one rule for numbers shown to people: terminal, report, charts and verdict text.

- significant digits, not fixed decimals: 3 by default (4 for quality metrics, where the
  fourth digit separates candidates), trailing zeros dropped (0.5, not 0.500);
- never exponent notation between 1e-6 and 1e15: 0.0000254, not 2.54e-05; below 1e-6 the
  exponent is clearer than a row of zeros (6.56e-07);
- 1,000 and above: whole numbers with thousands separators (1,129,438);
- dollars: whole from $100 ($1,234), cents from $0.10 ($65.15, $0.50), significant digits
  below ($0.0254), never an exponent however small;
- a cost per prediction in a unit a person reads: per 1M predictions, or per 1B / 1T when
  per 1M would be under a cent, one unit per table column or chart axis (`money_unit`,
  `money_in`, `money_per`): $4.28 per 1M, $0.0178 per 1B, never $0.0000178;
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
        text = f"{magnitude:.2f}" if magnitude >= 0.1 else _fraction(magnitude, sig)
    return f"{sign}${text}"


def _fraction(magnitude: float, sig: int) -> str:
    """A positive amount under 1 in plain decimals, however small (money never gets an
    exponent): 0.0000254, 0.000000983."""
    if magnitude == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(magnitude)))
    text = f"{magnitude:.{decimals}f}".rstrip("0").rstrip(".")
    return text if float(text) < 1 else number(float(text), sig)


#: the units a cost per prediction is shown in: (predictions, factor from per-1M, label)
PER_MILLION = "USD/1M"  # the unit of a figure that is a cost per 1M predictions
MONEY_UNITS = ((1.0, "1M"), (1e3, "1B"), (1e6, "1T"))
SMALLEST_SHOWN = 0.01  # a cost below a cent in its unit goes to the next unit (no $0.0000178)


def money_unit(per_million_values) -> tuple[float, str]:
    """(factor, label) of the one unit a set of costs per 1M predictions is shown in: per 1M
    unless the smallest would be under a cent, then per 1B, then per 1T. One unit per table
    column or chart axis, so every figure in it reads with 2 to 4 significant digits."""
    known = [abs(float(v)) for v in per_million_values
             if v is not None and not (isinstance(v, float) and math.isnan(v)) and v != 0]
    if not known:
        return MONEY_UNITS[0]
    smallest = min(known)
    for factor, label in MONEY_UNITS:
        if smallest * factor >= SMALLEST_SHOWN:
            return factor, label
    return MONEY_UNITS[-1]


def money_in(per_million, unit: tuple[float, str]) -> str:
    """A cost per 1M predictions shown in `unit` (from `money_unit`): '$0.0169'."""
    if per_million is None or (isinstance(per_million, float) and math.isnan(per_million)):
        return MISSING
    return usd(per_million * unit[0], 3)


def money_column(per_million_values) -> tuple[str, list[str]]:
    """(unit label '1M' / '1B' / '1T', the cells) of a table column of costs per 1M
    predictions: one unit for the whole column."""
    values = list(per_million_values)
    unit = money_unit(values)
    return unit[1], [money_in(v, unit) for v in values]


def money_span(lo, hi) -> str:
    """An interval of costs per 1M predictions in one unit: '$0.0143–0.024 per 1B'."""
    unit = money_unit([v for v in (lo, hi) if v is not None])
    return f"{money_in(lo, unit)}–{money_in(hi, unit).lstrip('$')} per {unit[1]}"


def money_per(per_million, words: str = "predictions") -> str:
    """One cost per prediction for people: '$4.28 per 1M predictions', '$0.0169 per 1B
    predictions' (never $0.0000169 per 1M)."""
    if per_million is None:
        return MISSING
    unit = money_unit([per_million])
    return f"{money_in(per_million, unit)} per {unit[1]} {words}".rstrip()


def with_unit(value, unit: str, sig: int = 3) -> str:
    """'4.75 ms', '12.5%', '$0.25'; '-' for None."""
    if value is None:
        return MISSING
    if unit in ("USD", "$"):
        return usd(value, sig)
    if unit == PER_MILLION:  # a cost per 1M predictions, in the unit it reads in
        return money_per(value, "")
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
