"""What xdist is given to reach the runners: one ssh_config per runner, the `--tx` specs, the options."""

from __future__ import annotations

import stat

from cloudgate.runners.model import parse_runners
from cloudgate.runners.txspec import RunnerFiles, ssh_config_text, tx_spec, xdist_args

RUNNERS = """\
defaults: {identity_file: /keys/id, known_hosts: /keys/known, python: /srv/cg/.venv/bin/python, chdir: /srv/cg}
runners:
  - {name: r1, address: 10.0.0.1}
  - {name: r2, address: 10.0.0.2, user: cg, port: 2200, workers: 4}
"""


def options(text: str) -> dict[str, str]:
    return dict(line.strip().split(" ", 1) for line in text.splitlines() if line.startswith("  "))


def test_a_runner_s_ssh_config_checks_host_keys_strictly_and_never_prompts():
    r2 = parse_runners(RUNNERS).runners[1]
    opts = options(ssh_config_text(r2, strict_host_keys=True, connect_timeout=4.4))
    assert opts["Port"] == "2200" and opts["IdentityFile"] == '"/keys/id"' and opts["IdentitiesOnly"] == "yes"
    assert opts["StrictHostKeyChecking"] == "yes" and opts["UserKnownHostsFile"] == '"/keys/known"'
    assert opts["BatchMode"] == "yes" and opts["ConnectTimeout"] == "4" and opts["IdentityAgent"] == "none"
    assert int(opts["ServerAliveInterval"]) * int(opts["ServerAliveCountMax"]) <= 30  # a lost runner is noticed


def test_the_lab_s_runners_are_not_held_to_host_keys_they_get_new_every_time():
    lab = parse_runners("lab: true\n" + RUNNERS.replace("known_hosts: /keys/known, ", ""))
    opts = options(ssh_config_text(lab.runners[0], strict_host_keys=lab.strict_host_keys, connect_timeout=3))
    assert opts["StrictHostKeyChecking"] == "no" and opts["UserKnownHostsFile"] == "/dev/null"


def test_tx_spec_names_the_workers_user_host_config_python_and_checkout(tmp_path):
    r2 = parse_runners(RUNNERS).runners[1]
    assert tx_spec(r2, tmp_path / "r2.ssh_config") == (
        f"4*ssh=cg@10.0.0.2//ssh_config={tmp_path}/r2.ssh_config//python=/srv/cg/.venv/bin/python//chdir=/srv/cg")


def test_xdist_args_never_replace_a_lost_worker_and_count_the_absent_shares():
    assert xdist_args(["2*ssh=a"], 0, "") == ["--tx=2*ssh=a", "--dist=load", "--max-worker-restart=0"]
    args = xdist_args(["2*ssh=a", "4*ssh=b"], 2, "its runner could not be reached: r3: refused")
    assert args[:2] == ["--tx=2*ssh=a", "--tx=4*ssh=b"]
    assert args[-2:] == ["--absent-shares=2", "--absent-reason=its runner could not be reached: r3: refused"]


def test_the_generated_files_are_private_and_removed_after_the_run(tmp_path):
    loaded = parse_runners(RUNNERS)
    with RunnerFiles(loaded, parent=str(tmp_path)) as files:
        assert files.dir is not None and stat.S_IMODE(files.dir.stat().st_mode) == 0o700
        assert sorted(files.paths) == ["r1", "r2"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files.paths.values())
        specs = files.specs(loaded.runners)
        assert specs[0].startswith("2*ssh=root@10.0.0.1//ssh_config=") and str(files.paths["r1"]) in specs[0]
        where = files.dir
    assert not where.exists()
