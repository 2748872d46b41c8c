"""Loading the pytest plugin loads none of the heavy libraries, nor OR-Tools, pandas or the lab.

Every suite run pays the plugin's import, the after-incident smoke run included, and so does each
pytester subprocess of the self-tests: the libraries that reach the target (cassandra-driver and
numpy, paramiko and testinfra, `cs` and requests), the figures' matplotlib and the property tests'
Hypothesis are imported by what needs them (a fixture, a hook, a check's module), and the pydantic
models (target file, estate, metrics) once a --target is loaded. Only the exact placement solver needs OR-Tools
(which brings pandas), and the lab is a target, never a library of the suite. A fresh interpreter
loads the plugin as pytest does (the package, then each part it lists in pytest_plugins).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cloudgate.estate
import cloudgate.plugin.state
from cloudgate import errors, target
from cloudgate.cassandra import cqlguard
from cloudgate.cassandra import session as cassandra
from cloudgate.cloudstack import client as cloud
from cloudgate.ssh import hosts

PROBE = """
import importlib, json, sys
import cloudgate.plugin
for part in cloudgate.plugin.pytest_plugins:
    importlib.import_module(part)
print(json.dumps(sorted(sys.modules)))
"""
HEAVY = ("cassandra", "paramiko", "testinfra", "cs", "requests", "matplotlib", "numpy", "hypothesis",
         "pydantic")


@pytest.fixture(scope="module")
def loaded() -> list[str]:
    """The modules a fresh interpreter holds once it has loaded the plugin."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_loading_the_plugin_loads_neither_ortools_pandas_nor_the_lab(loaded: list[str]) -> None:
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("ortools", "pandas") or m.startswith("cloudgate_lab"))
    assert not heavy, f"loading the plugin loaded {heavy[:6]}"


def test_loading_the_plugin_loads_no_driver_ssh_http_plotting_hypothesis_or_pydantic(loaded: list[str]) -> None:
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"loading the plugin loaded {heavy[:6]}"


def test_the_one_line_errors_are_the_classes_their_modules_raise() -> None:
    """Defined in cloudgate.errors for the plugin's sake; every `from cloudgate.cloudstack.client import ...` still works."""
    assert cloud.CloudStackError is errors.CloudStackError
    assert issubclass(cloud.MutationRefused, errors.CloudStackError)
    assert hosts.HostUnreachable is errors.HostUnreachable
    assert cassandra.CassandraError is errors.CassandraError
    assert cqlguard.CassandraReadOnlyError is errors.CassandraReadOnlyError
    assert target.TargetError is errors.TargetError
    refused = cloud.MutationRefused("deployVirtualMachine refused", errorcode=431, command="deployVirtualMachine")
    assert (str(refused), refused.errorcode, refused.command) == ("deployVirtualMachine refused", 431,
                                                                 "deployVirtualMachine")


def test_the_plugin_names_the_estate_file_as_the_estate_module_does() -> None:
    assert cloudgate.plugin.state.ESTATE_FILE == cloudgate.estate.ESTATE_FILE
