"""Package boundaries: ``actions`` sees the bot only as webhook JSON; backends import no bot-side package."""

from __future__ import annotations

import json
import subprocess
import sys

KEFU_PACKAGES = {"bot", "nlu", "policies", "simulator", "backends", "actions"}

_PROBE = """
import importlib, json, pkgutil, sys
report = {{}}
for first in {first}:
    importlib.import_module(first)
report["first"] = sorted({{name.split(".")[0] for name in sys.modules}})
pkg = importlib.import_module("{package}")
for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
report["all"] = sorted({{name.split(".")[0] for name in sys.modules}})
print(json.dumps(report))
"""


def probe(package: str, first: list[str]) -> dict[str, set[str]]:
    code = _PROBE.format(package=package, first=first)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {key: set(value) for key, value in json.loads(out).items()}


def test_actions_import_no_kefu_package() -> None:
    loaded = probe("actions", ["actions"])["all"]
    assert {"rasa_sdk", "aiohttp"} <= loaded
    assert not loaded & (KEFU_PACKAGES - {"actions"})


def test_backends_import_no_bot_side_package_and_domain_logic_needs_no_aiohttp() -> None:
    loaded = probe("backends", ["backends.orders.service", "backends.orders.seed", "backends.recommend.service"])
    assert "aiohttp" not in loaded["first"]  # the simulator imports the domain logic in process
    assert "aiohttp" in loaded["all"]  # the apps around it
    assert not loaded["all"] & (KEFU_PACKAGES - {"backends"})
