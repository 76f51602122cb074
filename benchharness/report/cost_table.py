"""The resources-and-cost table `bench run` prints under the main one, and its header line
naming the profile and the traffic the costs assume."""

from __future__ import annotations

from benchharness import schema
from benchharness.numbers import MISSING, money_per, number, usd

__all__ = ["usd", "cost_table_text", "report_detail", "pricing_line"]


def _num(value, sig: int = 3) -> str:
    return number(value, sig)


HEADER = ["candidate", "CPU ms/pred", "footprint MiB", "peak MiB", "load ms", "replicas",
          "batch $/1M", "real-time instances", "real-time $/month", "real-time $/1M", "cold start $/1M"]
_MONEY_COLUMNS = {6: "batch $/{}", 9: "real-time $/{}", 10: "cold start $/{} starts"}
#: which columns stay when the terminal is narrow (lower = kept longer)
PRIORITIES = [0, 4, 9, 6, 10, 7, 1, 5, 3, 2, 8]


def cost_row(c: dict) -> list[str]:
    r, k = schema.resources(c), schema.cost(c)
    batch, rt = schema.cost_batch(c), schema.cost_realtime(c)
    return [
        c.get("name", MISSING),
        _num(r.get("cpu_ms_per_prediction")),
        _num(r.get("footprint_mb")),
        _num(r.get("peak_rss_mb")),
        _num(r.get("load_time_ms")),
        _num(k.get("replicas_per_instance")),
        batch.get("usd_per_1m"),
        _num(rt.get("instances")),
        usd(rt.get("monthly_usd")),
        rt.get("usd_per_1m"),
        None if k.get("cold_start_usd") is None else k["cold_start_usd"] * 1e6,  # per 1M starts
    ]


def money_columns(rows: list[list], header: list[str]) -> tuple[list[list[str]], list[str]]:
    """The cost columns of `cost_row`s, each in the one unit it reads in (per 1M, 1B, 1T)."""
    from benchharness.numbers import money_column

    header = list(header)
    rows = [list(r) for r in rows]
    for i, label in _MONEY_COLUMNS.items():
        unit, cells = money_column(r[i] for r in rows)
        header[i] = label.format(unit)
        for r, cell in zip(rows, cells, strict=True):
            r[i] = cell
    return rows, header


def pricing_line(results: dict) -> str | None:
    """'priced as PROFILE (...) for TRAFFIC (...)', or None before the cost stage ran."""
    p, t = results.get("profile"), results.get("traffic")
    if not p or not t:
        return None
    approx = ", approximate" if p.get("approximate") else ""
    defaults = set(t.get("defaults_used") or [])

    def tag(key: str) -> str:
        return " (default)" if key in defaults else ""

    line = (f"priced as profile {p['name']}: {p['price_per_hour_usd']:g} USD/hour{approx}, "
            f"{p['vcpus']} vCPUs (source: {p['source']}, as of {p['as_of']})\n"
            f"traffic: peak {t['peak_rps']:,.0f} requests/s{tag('peak_rps')}, "
            f"{t['daily_volume']:,.0f} predictions/day{tag('daily_volume')}, "
            f"{t['batch_rows_per_day']:,.0f} batch rows/day{tag('batch_rows_per_day')}")
    for note in p.get("mismatch") or []:
        line += f"\nnote: {note}"
    return line


def cost_table_text(results: dict) -> str | None:
    from benchharness.report.console import render_table

    rows = [cost_row(c) for c in schema.candidates(results) if schema.resources(c) or schema.cost(c)]
    if not rows:
        return None
    rows, header = money_columns(rows, HEADER)
    parts = [render_table(rows, header, PRIORITIES)]
    line = pricing_line(results)
    if line:
        parts.append(line)
    for c in schema.candidates(results):
        rt = schema.cost_realtime(c)
        if rt.get("rate_warning") or "closed_loop" in (rt.get("rate_source") or ""):
            parts.append(f"note: {c.get('name')}: real-time cost from {rt['rate_source']}"
                         + (f" ({rt['rate_warning']})" if rt.get("rate_warning") else ""))
    return "\n".join(parts)


def _daily(value) -> str:
    """A day's cost: '$1.23', or 'under $0.01' (never $0.0000351)."""
    return "under $0.01" if value is not None and 0 < value < 0.01 else usd(value)


DETAIL_HEADER = ["candidate", "CPU % (1 request at a time)", "threads / replica", "replicas / instance",
                 "real-time instances", "utilisation at daily volume", "batch hours / day", "batch USD / day",
                 "cold start", "GPU utilisation", "GPU J / prediction", "CPU J / prediction"]


def report_detail(results: dict) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, caption) of the report's table of every resource and cost figure
    beyond the headline ones, with the profile and traffic they assume as the caption."""
    rows = []
    for c in schema.candidates(results):
        r, k = schema.resources(c), schema.cost(c)
        if not (r or k):
            continue
        phases = schema.resource_phases(c)
        closed = phases.get("closed_loop") or next(iter(phases.values()), {})
        gpu = (closed.get("gpu") or {})
        gpu_util = next((d.get("utilisation_mean_percent") for d in gpu.get("devices") or []), None)
        batch, rt = schema.cost_batch(c), schema.cost_realtime(c)
        rows.append([
            c.get("name", MISSING), _num(closed.get("process_cpu_percent")),
            f"{_num(k.get('threads_per_replica'))} ({k.get('threads_source', '-')})",
            _num(k.get("replicas_per_instance")), _num(rt.get("instances")),
            "-" if rt.get("utilisation") is None else f"{rt['utilisation']:.2%}",
            _num(batch.get("hours_per_day")), _daily(batch.get("daily_usd")),
            money_per(None if k.get("cold_start_usd") is None else k["cold_start_usd"] * 1e6, "starts"),
            "no GPU" if not r.get("gpu_available") else f"{_num(gpu_util)}%",
            _num(r.get("gpu_energy_per_prediction_j")), _num(r.get("cpu_energy_per_prediction_j")),
        ])
    caption = (pricing_line(results) or "no hardware profile recorded").replace("\n", "; ")
    return DETAIL_HEADER, rows, caption
