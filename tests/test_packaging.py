"""The wheel ships the built-in quickstart suite and hardware profiles as package data.

A non-editable install must find them with importlib.resources: the wheel is built, unpacked
into a folder (what pip does) and imported from there in a child process whose working folder
has no benchmarks/ or profiles/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_quickstart_and_profiles(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",  # build isolation: setuptools from PyPI
         "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("benchharness-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "benchharness/suites/quickstart.yaml" in names
    assert "benchharness/profiles/local.yaml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import benchharness, sys\n"
        "from benchharness import config\n"
        "from benchharness.cost import hardware\n"
        "print(benchharness.__file__)\n"
        "print(config.load_suite(config.default_suite_path()).name)\n"
        "print(','.join(hardware.available_profiles()))\n"
        "print(hardware.load_profile('local').name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    where, suite, profiles, local = out.stdout.split()
    assert Path(where).is_relative_to(site)
    assert suite == "quickstart"
    assert "local" in profiles.split(",") and "aws-c7i-large" in profiles.split(",")
    assert local == "local"


def test_a_user_profile_in_the_working_folder_is_found(tmp_path, monkeypatch):
    from benchharness.cost import hardware

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "my-box.yaml").write_text(
        "name: my-box\nvcpus: 8\nmemory_gb: 32\nprice_per_hour_usd: 0.4\n"
        "source: our rate card\nas_of: '2026-01'\n")
    monkeypatch.chdir(tmp_path)
    assert {"my-box", "local"} <= set(hardware.available_profiles())
    assert hardware.load_profile("my-box").price_per_hour_usd == 0.4
