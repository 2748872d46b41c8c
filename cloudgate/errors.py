"""The suite's one-line errors, in a module that imports nothing.

Each is raised by the module it belongs to and re-exported there (`from cloudgate.cassandra.session import
CassandraError` is the same class as this one). They live here so the pytest plugin can recognise
them when it reports a check (cloudgate.plugin.outcomes, ONE_LINE_ERRORS) without importing what
raises them: the Cassandra driver, paramiko and testinfra, `cs` and requests, the pydantic models.
"""

from __future__ import annotations


class TargetError(Exception):
    """A target file or its environment is unusable; the message is one line an operator can act on."""


class CloudStackError(Exception):
    """A CloudStack call failed; str() is one line an operator can act on."""

    def __init__(self, message: str, *, errorcode: int | None = None, command: str = "") -> None:
        super().__init__(message)
        self.errorcode = errorcode
        self.command = command


class HostUnreachable(Exception):
    """SSH to a host failed; str() is one line naming the host and the cause."""


class CassandraError(Exception):
    """A Cassandra step failed; str() is one line naming the target and the cause."""


class CassandraReadOnlyError(Exception):
    """A read-only run tried to send a statement that is not a SELECT."""
