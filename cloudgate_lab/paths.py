"""Where the lab keeps its state on this machine: one directory, removed whole by `lab down`."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LAB_DIR = "/var/tmp/cloudgate-lab"


def lab_dir() -> Path:
    """The lab's state directory (`CLOUDGATE_LAB_DIR` overrides; the target file uses the same rule)."""
    return Path(os.environ.get("CLOUDGATE_LAB_DIR") or DEFAULT_LAB_DIR)


def ssh_dir() -> Path:
    return lab_dir() / "ssh"


def client_key() -> Path:
    """Private key the suite uses to reach lab hosts and guests (the target's ssh.identity_file)."""
    return ssh_dir() / "id_ed25519"


def credentials_file() -> Path:
    """API key and secret of the lab's root admin, mode 0600; `cloudgate lab env` prints them."""
    return lab_dir() / "credentials.json"


def topology_file() -> Path:
    """JSON topology written by `lab up` and read by the CloudStack simulator and the host builder."""
    return lab_dir() / "topology.json"


def cloudstack_dir() -> Path:
    return lab_dir() / "cloudstack"


def hosts_dir() -> Path:
    return lab_dir() / "hosts"


def guests_dir() -> Path:
    return lab_dir() / "guests"
