"""A CloudStack version as operators write it (4.20.0.0): the one rule, for the product and the lab.

Why a module of its own: `cloudgate gate before --upgrade-to` (the product) and `cloudgate lab
upgrade --to` (the lab's simulator) must refuse the same malformed versions with the same words,
and the product may not import the lab; the lab may import this. It imports nothing.
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)+$")


class VersionError(ValueError):
    """A malformed CloudStack version; str() is one line naming it."""


def parse_version(text: str) -> tuple[int, ...]:
    """(4, 20, 0, 0) for "4.20.0.0"; VersionError for anything but digits and dots."""
    if not _VERSION.match(text):
        raise VersionError(f"malformed CloudStack version {text!r}: digits and dots, such as 4.20.0.0")
    return tuple(int(part) for part in text.split("."))
