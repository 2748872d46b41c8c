"""tools/install-debian-packages.sh: no service starts during the install, and a machine's own
policy-rc.d is left exactly as it was (a fake apt-get records what the policy answered)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "install-debian-packages.sh"


def _fake_apt(tmp_path: Path, policy: Path, rc: int = 0) -> Path:
    apt = tmp_path / "apt-get"
    log = tmp_path / "apt.log"
    apt.write_text(f"#!/bin/bash\n[ \"$1\" = install ] || exit 0\n{policy} haproxy start; echo \"policy=$?\" >> {log}\nexit {rc}\n")
    apt.chmod(0o755)
    return log


def _run(tmp_path: Path, policy: Path, rc: int = 0) -> tuple[subprocess.CompletedProcess[str], Path]:
    log = _fake_apt(tmp_path, policy, rc)
    env = {**os.environ, "CLOUDGATE_POLICY_RC_D": str(policy), "CLOUDGATE_APT_GET": str(tmp_path / "apt-get")}
    done = subprocess.run(["bash", str(SCRIPT), "haproxy"], env=env, capture_output=True, text=True, timeout=30)
    return done, log


def test_without_a_policy_no_service_starts_and_none_is_left(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    done, log = _run(tmp_path, policy)
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "policy=101\n"
    assert not policy.exists()


@pytest.mark.parametrize("apt_rc", [0, 100])
def test_a_permissive_policy_is_put_back_byte_for_byte_even_when_the_install_fails(tmp_path: Path, apt_rc: int) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the operators' own\nexit 0\n")
    policy.chmod(0o750)
    before = (policy.read_bytes(), policy.stat().st_mode, policy.stat().st_mtime_ns, policy.stat().st_ino)
    done, log = _run(tmp_path, policy, apt_rc)
    assert (done.returncode == 0) == (apt_rc == 0)
    assert log.read_text() == "policy=101\n"
    after = (policy.read_bytes(), policy.stat().st_mode, policy.stat().st_mtime_ns, policy.stat().st_ino)
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if "aside" in p.name] == []


def test_a_policy_that_already_forbids_everything_is_used_untouched(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    ino = policy.stat().st_ino
    done, log = _run(tmp_path, policy)
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "policy=101\n"
    assert policy.stat().st_ino == ino and policy.read_text() == "#!/bin/sh\nexit 101\n"
