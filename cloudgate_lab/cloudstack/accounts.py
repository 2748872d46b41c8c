"""Who may call the API: the lab's root admin and, optionally, one plain user account.

The non-admin user exists so role rules (hostid is root-admin only, admin-only commands answer 432,
users never see hostid) can be exercised against the lab exactly as against a real cloud.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .inventory import stable_id

ROOT_DOMAIN_ID = stable_id("domain", "ROOT")


@dataclass(frozen=True)
class Account:
    account_id: int  # the numeric id in instance names (i-<account>-<vm>-VM)
    name: str
    uuid: str
    user_uuid: str
    username: str
    api_key: str
    secret_key: str
    is_root_admin: bool

    @property
    def accounttype(self) -> int:
        return 1 if self.is_root_admin else 0


def new_credentials() -> dict[str, Any]:
    """Fresh random keys for the root admin and the plain user (CloudStack keys are url-safe base64)."""
    return {
        "api_key": secrets.token_urlsafe(64),
        "secret_key": secrets.token_urlsafe(64),
        "user": {"api_key": secrets.token_urlsafe(64), "secret_key": secrets.token_urlsafe(64)},
    }


def load_credentials(path: Path) -> dict[str, Any]:
    """Read a credentials file, creating it (mode 0600) with fresh keys when it does not exist."""
    if path.exists():
        return json.loads(path.read_text())
    creds = new_credentials()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    return creds


def accounts_from(credentials: dict[str, Any]) -> list[Account]:
    out = [
        Account(2, "admin", stable_id("account", "admin"), stable_id("user", "admin"), "admin",
                str(credentials["api_key"]), str(credentials["secret_key"]), True)
    ]
    user = credentials.get("user")
    if isinstance(user, dict) and user.get("api_key") and user.get("secret_key"):
        out.append(Account(3, "cloudgate-user", stable_id("account", "cloudgate-user"),
                           stable_id("user", "cloudgate-user"), "cloudgate-user",
                           str(user["api_key"]), str(user["secret_key"]), False))
    return out
