"""A read-only Cassandra session: what a non-destructive run hands its checks.

The smoke profile runs on production after an incident. Its Cassandra checks only read the ring
and the schema, and the plugin already refuses destructive checks there; this guard makes the
client itself refuse any statement but SELECT, as the CloudStack client refuses mutating API
commands, so a bug in a read-only check cannot write to a production cluster either.
"""

from __future__ import annotations

import re
from typing import Any

from cassandra.query import BatchStatement, BoundStatement, PreparedStatement, Statement

from cloudgate.errors import CassandraReadOnlyError  # defined there: the plugin must not load the driver

_FIRST_WORD = re.compile(r"\s*(?:(?:--|//)[^\n]*\n\s*|/\*.*?\*/\s*)*(\w+)", re.S)


def statement_text(query: Any) -> str:
    """The CQL text of a string, a simple, prepared or bound statement ('' for a batch)."""
    if isinstance(query, str):
        return query
    if isinstance(query, BoundStatement):
        return query.prepared_statement.query_string
    if isinstance(query, PreparedStatement):
        return query.query_string
    if isinstance(query, BatchStatement):
        return ""
    if isinstance(query, Statement):
        return getattr(query, "query_string", "") or ""
    return str(query)


def is_read_only(query: Any) -> bool:
    match = _FIRST_WORD.match(statement_text(query))
    return bool(match) and match.group(1).upper() == "SELECT"


class ReadOnlySession:
    """Wraps a driver Session; execute/execute_async/prepare refuse anything but SELECT, and its
    ``cluster`` is a ReadOnlyCluster. Other attributes are the session's own."""

    def __init__(self, session: Any, target_name: str) -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_target_name", target_name)

    @property
    def cluster(self) -> ReadOnlyCluster:
        return ReadOnlyCluster(self._session.cluster, self._target_name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._session, name, value)  # e.g. default_timeout: a setting of the real session

    def _check(self, query: Any) -> None:
        if not is_read_only(query):
            text = " ".join(statement_text(query).split())[:60] or type(query).__name__
            raise CassandraReadOnlyError(
                f"{self._target_name}: refused to send {text!r} to Cassandra: this run is read-only "
                "(only destructive checks, run with --allow-destructive, may write)")

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(query)
        return self._session.execute(query, *args, **kwargs)

    def execute_async(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(query)
        return self._session.execute_async(query, *args, **kwargs)

    def prepare(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(query)
        return self._session.prepare(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class ReadOnlyCluster:
    """Wraps a driver Cluster: metadata and the rest as they are, but ``connect`` gives a ReadOnlySession."""

    def __init__(self, cluster: Any, target_name: str) -> None:
        object.__setattr__(self, "_cluster", cluster)
        object.__setattr__(self, "_target_name", target_name)

    def connect(self, *args: Any, **kwargs: Any) -> ReadOnlySession:
        return ReadOnlySession(self._cluster.connect(*args, **kwargs), self._target_name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cluster, name, value)
