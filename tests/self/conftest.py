"""Helpers shared by the suite's self-tests."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def write_target(path: Path, *, name: str = "selftest", environment: str = "production", extra: str = "") -> Path:
    """A minimal valid target file; its endpoint is loopback port 9 and is never contacted."""
    known = "" if environment == "lab" else "  known_hosts: /dev/null\n"
    path.write_text(
        f"name: {name}\n"
        f"environment: {environment}\n"
        "cloudstack:\n"
        "  endpoint: http://127.0.0.1:9/client/api\n"
        "  api_key_env: CG_SELFTEST_KEY\n"
        "  secret_key_env: CG_SELFTEST_SECRET\n"
        "ssh:\n"
        "  identity_file: /dev/null\n"
        f"{known}"
        "datacenters:\n"
        "  - {name: dc1, zone: zone-1}\n"
        f"{extra}"
    )
    return path


@pytest.fixture
def make_target():
    """Factory writing a minimal valid target file (see write_target)."""
    return write_target


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_SELFTEST_KEY", "selftest-key")
    monkeypatch.setenv("CG_SELFTEST_SECRET", "selftest-secret-value")
