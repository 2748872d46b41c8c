"""The self-tests' own output never carries the lab's credentials (CI keeps `make test`'s log)."""

from __future__ import annotations

from selfcheck import SecretEnv


def test_the_lab_credentials_print_as_stars_when_pytest_shows_a_failing_tests_fixtures():
    env = SecretEnv([("CLOUDGATE_LAB_API_KEY", "key-value"), ("CLOUDGATE_LAB_SECRET_KEY", "secret-value")])
    shown = repr({"timings": {}, "env": env})
    assert "key-value" not in shown and "secret-value" not in shown
    assert "CLOUDGATE_LAB_SECRET_KEY" in shown
    assert {**{"PATH": "/bin"}, **env}["CLOUDGATE_LAB_SECRET_KEY"] == "secret-value"  # still usable as an env
