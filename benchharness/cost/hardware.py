"""The machine a run is on, and the hardware profiles its cost is priced with.

A profile (a YAML file) describes an instance type one could rent: vCPUs, memory, GPU and
price per hour, with where the price came from and when. `local` describes this machine: its
vCPUs, memory and GPU are detected (`auto`) and its price is an approximate rate per vCPU-hour
so that a local run still shows a cost; name a real profile for a real price.

Measurements are made on the machine the run is on; the cost model then prices that
throughput on the profile's instance. When the two differ (`mismatch` in `profile_section`),
the figures hold only as far as the profile's cores perform like the measured ones.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import psutil
import yaml

from benchharness.environment import cpu_model
from benchharness.errors import UserError

# The built-in profiles ship inside the package (read with importlib.resources, so an installed
# wheel finds them); a `profiles/` folder where the command runs holds the user's own and is
# searched first, so a user file of the same name overrides the built-in one.
BUILTIN_PROFILES_DIR = Path(str(resources.files("benchharness") / "profiles"))
USER_PROFILES_DIR = Path("profiles")
DEFAULT_PROFILE = "local"
GIB = 1024**3


class ProfileError(UserError):
    """A hardware profile cannot be found or is invalid."""


# -- the machine ------------------------------------------------------------------------------
def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit() -> float | None:
    """CPU quota of this container in cores (cgroup v2 cpu.max or v1 cfs quota), None if unlimited."""
    v2 = _read("/sys/fs/cgroup/cpu.max")
    if v2:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    quota, period = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def cgroup_memory_limit_gb() -> float | None:
    """Memory limit of this container in GiB, None if unlimited."""
    raw = _read("/sys/fs/cgroup/memory.max") or _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if not raw or raw == "max" or int(raw) >= 2**60:  # v1 writes a huge number for "unlimited"
        return None
    return round(int(raw) / GIB, 2)


def detect_machine(include_gpu: bool = True) -> dict:
    """CPU model, cores (logical, physical, usable, container quota), memory, GPUs."""
    from benchharness.measure.energy import rapl_domains
    from benchharness.measure.gpu import gpu_status

    zones, rapl_reason = rapl_domains()
    return {
        "cpu_model": cpu_model(),
        "architecture": platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": usable_cores(),
        "cpu_quota_cores": cgroup_cpu_limit(),
        "memory_gb": round(psutil.virtual_memory().total / GIB, 2),
        "memory_limit_gb": cgroup_memory_limit_gb(),
        "os": platform.platform(),
        "gpu": gpu_status() if include_gpu else {"available": False, "reason": "not probed"},
        "rapl": {"available": bool(zones), "reason": rapl_reason},
    }


# -- profiles ---------------------------------------------------------------------------------
@dataclass
class Profile:
    name: str
    vcpus: int
    memory_gb: float
    price_per_hour_usd: float
    source: str
    as_of: str
    approximate: bool = True
    spot_price_per_hour_usd: float | None = None
    gpu: dict | None = None  # {model, count, memory_gb}
    cpu: str | None = None
    provider: str | None = None
    instance_type: str | None = None
    region: str | None = None
    notes: str = ""
    path: str | None = None
    detected: list[str] = field(default_factory=list)  # fields taken from this machine

    def to_dict(self) -> dict:
        return asdict(self)


_REQUIRED = ("name", "vcpus", "memory_gb", "source", "as_of")
_ALLOWED = set(_REQUIRED) | {
    "price_per_hour_usd", "price_per_vcpu_hour_usd", "spot_price_per_hour_usd", "approximate",
    "gpu", "provider", "instance_type", "region", "notes", "cpu",
}


def _search_dirs(directory: Path | None) -> list[Path]:
    """Where profile names are looked up: the given folder, else ./profiles then the built-in."""
    return [directory] if directory is not None else [USER_PROFILES_DIR, BUILTIN_PROFILES_DIR]


def available_profiles(directory: Path | None = None) -> list[str]:
    return sorted({p.stem for d in _search_dirs(directory) if d.is_dir() for p in d.glob("*.yaml")})


def _find(name_or_path: str, directory: Path | None) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not path.is_file():
            raise ProfileError(f"profile file not found: {name_or_path}")
        return path
    wanted = name_or_path.lower()
    for folder in _search_dirs(directory):
        for candidate in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if candidate.stem.lower() == wanted:
                return candidate
    raise ProfileError(
        f"unknown profile {name_or_path!r}; available: "
        f"{', '.join(available_profiles(directory))} (or a path to a .yaml file)"
    )


def load_profile(name_or_path: str | None = None, directory: Path | None = None,
                 machine: dict | None = None) -> Profile:
    """A profile by name (./profiles, then the built-in ones) or path, validated, `auto` fields detected."""
    path = _find(name_or_path or DEFAULT_PROFILE, directory)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_profile(raw, path, machine)


def _number(raw: dict, key: str, where: str, minimum: float = 0.0) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ProfileError(f"{where}: {key!r} must be a number >= {minimum:g}, got {value!r}")
    return value


def parse_profile(raw: object, path: Path | None = None, machine: dict | None = None) -> Profile:
    where = f"profile {path.name}" if path else "profile"
    if not isinstance(raw, dict):
        raise ProfileError(f"{where} must be a YAML mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _ALLOWED)
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_ALLOWED))}")
    missing = [k for k in _REQUIRED if raw.get(k) is None]
    if missing:
        raise ProfileError(f"{where}: missing required key {missing[0]!r}")
    raw = dict(raw)
    detected = [k for k in ("vcpus", "memory_gb", "gpu") if raw.get(k) == "auto"]
    if detected:
        machine = machine or detect_machine(include_gpu="gpu" in detected)
        _fill_auto(raw, machine)
    vcpus = raw["vcpus"]
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
        raise ProfileError(f"{where}: 'vcpus' must be a positive integer or auto, got {vcpus!r}")
    per_hour = raw.get("price_per_hour_usd")
    per_vcpu = raw.get("price_per_vcpu_hour_usd")
    if (per_hour is None) == (per_vcpu is None):
        raise ProfileError(f"{where}: give exactly one of 'price_per_hour_usd' or 'price_per_vcpu_hour_usd'")
    price = _number(raw, "price_per_hour_usd", where) if per_hour is not None else \
        round(_number(raw, "price_per_vcpu_hour_usd", where) * vcpus, 6)
    if raw.get("spot_price_per_hour_usd") is not None:
        _number(raw, "spot_price_per_hour_usd", where)
    gpu = raw.get("gpu")
    if gpu is not None and not (isinstance(gpu, dict) and {"model", "count"} <= set(gpu)):
        raise ProfileError(f"{where}: 'gpu' must be a mapping with model and count (and memory_gb), or null, got {gpu!r}")
    as_of = raw["as_of"]
    as_of = as_of.isoformat() if isinstance(as_of, _dt.date) else str(as_of)
    return Profile(
        name=str(raw["name"]), vcpus=vcpus, memory_gb=_number(raw, "memory_gb", where),
        price_per_hour_usd=price, source=str(raw["source"]), as_of=as_of,
        approximate=bool(raw.get("approximate", True)),
        spot_price_per_hour_usd=raw.get("spot_price_per_hour_usd"), gpu=gpu,
        provider=raw.get("provider"), instance_type=raw.get("instance_type"),
        region=raw.get("region"), cpu=raw.get("cpu"), notes=str(raw.get("notes") or "").strip(),
        path=str(path) if path else None, detected=detected,
    )


def _fill_auto(raw: dict, machine: dict) -> None:
    if raw.get("vcpus") == "auto":
        quota = machine.get("cpu_quota_cores")
        cores = machine.get("usable_cores") or machine.get("logical_cores") or 1
        raw["vcpus"] = max(1, min(cores, int(quota))) if quota else cores
    if raw.get("memory_gb") == "auto":
        raw["memory_gb"] = machine.get("memory_limit_gb") or machine.get("memory_gb")
    if raw.get("gpu") == "auto":
        devices = (machine.get("gpu") or {}).get("devices") or []
        raw["gpu"] = None if not devices else {
            "model": devices[0]["name"], "count": len(devices),
            "memory_gb": round((devices[0].get("memory_total_mb") or 0) / 1024, 1),
        }


def profile_section(profile: Profile, machine: dict) -> dict:
    """results["profile"]: the profile, plus where it differs from the measured machine."""
    out = profile.to_dict()
    mismatch = []
    cores = machine.get("usable_cores")
    if cores and cores != profile.vcpus:
        mismatch.append(f"measured on {cores} usable cores, priced as {profile.vcpus} vCPUs")
    gpu = _gpu_mismatch(profile.gpu, machine.get("gpu") or {})
    if gpu:
        mismatch.append(gpu)
    out["mismatch"] = mismatch
    return out


def _gpu_mismatch(profile_gpu: dict | None, machine_gpu: dict) -> str | None:
    """How the profile's GPUs differ from the measured machine's (presence, model, count):
    a run measured on an H100 and priced as an A10G instance must say so."""
    devices = (machine_gpu.get("devices") or []) if machine_gpu.get("available") else []
    measured = ", ".join(sorted({d.get("name", "unknown") for d in devices})) or "none"
    if len(devices) > 1:
        measured = f"{len(devices)} x {measured}"
    if not profile_gpu:
        return None if not devices else f"profile GPU: none; measured machine GPU: {measured}"
    wanted = f"{profile_gpu['model']}" if profile_gpu.get("count", 1) == 1 else \
        f"{profile_gpu['count']} x {profile_gpu['model']}"
    if not devices:
        return f"profile GPU: {wanted}; measured machine GPU: none"
    same_model = all(_same_gpu(profile_gpu["model"], d.get("name", "")) for d in devices)
    if same_model and len(devices) == profile_gpu.get("count", 1):
        return None
    return f"profile GPU: {wanted}; measured machine GPU: {measured}"


def _same_gpu(profile_model: str, device_name: str) -> bool:
    """Same GPU when the first word after the vendor matches: 'NVIDIA A10G' is the device
    'NVIDIA A10G', 'Tesla T4' is 'NVIDIA T4'; 'A10' is not 'A100-SXM4-80GB'."""
    def model_word(name: str) -> str:
        words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w and w not in ("nvidia", "tesla")]
        return words[0] if words else ""
    return model_word(profile_model) != "" and model_word(profile_model) == model_word(device_name)
