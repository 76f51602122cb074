"""What a prediction costs, from measured figures and a hardware profile's price.

Pure functions: numbers in, numbers out, no I/O. The formulas are written in each docstring
and in docs/cost.md ("Cost model"); the tests check them against hand-computed numbers.

Conventions: prices in USD per instance-hour; billing per second (as the large clouds bill
Linux instances), so a fraction of an hour costs that fraction; a month is 730 hours
(8760 / 12) and 365 / 12 = 30.42 days.
"""

from __future__ import annotations

import math

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = 365.0 / 12.0
PER_MILLION = 1_000_000


def replicas_per_instance(vcpus: int, threads_per_replica: int) -> int:
    """How many copies of the model one instance runs side by side.

        replicas = max(1, vcpus // threads_per_replica)

    Each replica is given the threads it was measured with; an instance with fewer vCPUs than
    one replica's threads still runs one (slower than measured: the report says so).
    """
    if vcpus < 1 or threads_per_replica < 1:
        raise ValueError(f"vcpus and threads_per_replica must be >= 1, got {vcpus}, {threads_per_replica}")
    return max(1, vcpus // threads_per_replica)


#: the share of an instance's memory its replicas may take; the rest is the OS's and the server's
MEMORY_SHARE = 0.9


def replicas_by_memory(memory_gb: float, memory_per_replica_mb: float | None) -> int | None:
    """How many replicas the instance's memory holds (None when a replica's is not known).

        replicas = max(1, floor(memory_gb x 1024 x MEMORY_SHARE / memory_per_replica_mb))

    `memory_per_replica_mb` is a measuring child's peak RSS: a whole process (interpreter,
    libraries, model), which is what each replica is.
    """
    if not memory_per_replica_mb or memory_per_replica_mb <= 0 or not memory_gb:
        return None
    return max(1, math.floor(memory_gb * 1024 * MEMORY_SHARE / memory_per_replica_mb))


def batch_usd_per_million(rows_per_s: float, price_per_hour_usd: float, replicas: int) -> float:
    """USD per 1M predictions scored in batch.

        instance rows/s  = rows_per_s x replicas
        USD per 1M       = price_per_hour / (instance rows/s x 3600) x 1,000,000

    `rows_per_s` is the throughput one replica reached (the best batch size of the sweep).
    Assumes replicas scale linearly, i.e. they do not fight over memory bandwidth or caches:
    an optimistic bound that a run with all replicas side by side would confirm.
    """
    if rows_per_s <= 0:
        raise ValueError(f"rows_per_s must be > 0, got {rows_per_s}")
    return price_per_hour_usd / (rows_per_s * replicas * 3600.0) * PER_MILLION


def batch_daily_cost_usd(rows_per_day: float, rows_per_s: float, price_per_hour_usd: float,
                         replicas: int) -> dict:
    """Cost and machine time of scoring `rows_per_day` rows in batch on one instance.

        hours per day = rows_per_day / (rows_per_s x replicas) / 3600
        USD per day   = hours per day x price_per_hour        (billed per second)
    """
    hours = rows_per_day / (rows_per_s * replicas) / 3600.0
    return {"hours_per_day": hours, "usd_per_day": hours * price_per_hour_usd,
            "usd_per_month": hours * price_per_hour_usd * DAYS_PER_MONTH}


def instances_needed(peak_rps: float, sustainable_rps_per_replica: float, replicas: int,
                     min_instances: int = 1) -> int:
    """Instances that serve `peak_rps` within the latency limit.

        capacity per instance = sustainable_rps_per_replica x replicas
        instances             = max(min_instances, ceil(peak_rps / capacity per instance))

    `sustainable_rps_per_replica` is the highest open-loop arrival rate at which one replica
    kept its p99 within the limit: the rate sweep measures it, so no headroom is added here.
    """
    if sustainable_rps_per_replica <= 0:
        raise ValueError(f"sustainable rate must be > 0, got {sustainable_rps_per_replica}")
    capacity = sustainable_rps_per_replica * replicas
    # a tiny tolerance so 100 / (33.333... x 3) does not round up to 2 through float error
    return max(min_instances, math.ceil(peak_rps / capacity - 1e-9))


def realtime_cost(peak_rps: float, daily_volume: float, sustainable_rps_per_replica: float,
                  replicas: int, price_per_hour_usd: float) -> dict:
    """Always-on real-time serving sized for the peak rate.

        instances          = instances_needed(peak_rps, rate per replica, replicas)
        USD per month      = instances x price_per_hour x 730
        USD per 1M         = USD per month / (daily_volume x 365/12) x 1,000,000

    The instances run all month whatever the traffic, so the cost per prediction falls as
    the daily volume rises; `utilisation` = mean rate / capacity says how idle they are.
    """
    instances = instances_needed(peak_rps, sustainable_rps_per_replica, replicas)
    monthly = instances * price_per_hour_usd * HOURS_PER_MONTH
    predictions_per_month = daily_volume * DAYS_PER_MONTH
    capacity_rps = instances * replicas * sustainable_rps_per_replica
    return {
        "instances": instances,
        "capacity_per_s": capacity_rps,
        "usd_per_month": monthly,
        "usd_per_million": monthly / predictions_per_month * PER_MILLION if daily_volume > 0 else None,
        "utilisation": (daily_volume / 86400.0) / capacity_rps,
    }


def cold_start_usd(load_time_s: float, price_per_hour_usd: float, instance_boot_s: float = 0.0) -> float:
    """Cost of bringing one more replica up, paid before it serves a request.

        USD = (instance_boot_s + load_time_s) / 3600 x price_per_hour

    `load_time_s` is the measured model load time in a fresh process; the instance's own boot
    time is not measured by the harness (0 unless given). Multiply by scale-out events per
    month for an autoscaled service.
    """
    return (instance_boot_s + load_time_s) / 3600.0 * price_per_hour_usd
