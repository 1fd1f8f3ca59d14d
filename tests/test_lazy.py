"""Packages that load their heavy parts when first named: the names still work, and the
``distillguard`` command does not import what only some commands need."""

from __future__ import annotations

import subprocess
import sys

import pytest

import distillguard.console as console
import distillguard.intel as intel
from distillguard.console.app import create_app
from distillguard.intel.match import SharedIntel
from distillguard.intel.validate import MAX_BUNDLE_BYTES


def test_a_lazy_name_is_the_submodule_s_own_object() -> None:
    assert intel.SharedIntel is SharedIntel
    assert intel.MAX_BUNDLE_BYTES == MAX_BUNDLE_BYTES
    assert console.create_app is create_app
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = intel.nothing  # type: ignore[attr-defined]
    for package in (intel, console):
        assert all(hasattr(package, name) for name in package.__all__)


def test_the_command_line_does_not_load_the_console_app_or_the_stix_validator() -> None:
    code = (
        "import sys, distillguard.cli\n"
        "heavy = ['stix2validator', 'distillguard.console.app', 'distillguard.intel.export',\n"
        "         'distillguard.hunt.run', 'distillguard.exchange.ingest']\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
