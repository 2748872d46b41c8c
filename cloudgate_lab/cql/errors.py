"""CQL error responses (opcode 0x00) as Python exceptions.

Raising one of these anywhere in request handling produces the exact ERROR body Cassandra
sends, so the driver maps it to the same exception class (InvalidRequest, Unavailable,
WriteTimeout, ...) and applies the same retry policy as against Apache Cassandra.
"""

from __future__ import annotations

from .wire import Writer

SERVER_ERROR = 0x0000
PROTOCOL_ERROR = 0x000A
UNAVAILABLE = 0x1000
OVERLOADED = 0x1001
WRITE_TIMEOUT = 0x1100
READ_TIMEOUT = 0x1200
SYNTAX_ERROR = 0x2000
INVALID = 0x2200
CONFIG_ERROR = 0x2300
ALREADY_EXISTS = 0x2400
UNPREPARED = 0x2500

#: write_type strings the driver accepts (anything else is a KeyError in the driver).
WRITE_TYPES = frozenset({"SIMPLE", "BATCH", "UNLOGGED_BATCH", "COUNTER", "BATCH_LOG", "CAS", "VIEW", "CDC"})


class CqlError(Exception):
    """Base: a code, a message and a code-specific tail."""

    code = SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def tail(self, w: Writer) -> None:
        """Append the code-specific fields after [int] code + [string] message."""

    def body(self) -> bytes:
        w = Writer().int(self.code).string(self.message)
        self.tail(w)
        return w.getvalue()


class ServerError(CqlError):
    code = SERVER_ERROR


class ProtocolError(CqlError):
    code = PROTOCOL_ERROR


class SyntaxError_(CqlError):
    """CQL that does not parse (0x2000). Trailing underscore: avoid shadowing the builtin."""

    code = SYNTAX_ERROR


class InvalidRequest(CqlError):
    code = INVALID


class ConfigurationError(CqlError):
    code = CONFIG_ERROR


class Overloaded(CqlError):
    code = OVERLOADED


class AlreadyExists(CqlError):
    code = ALREADY_EXISTS

    def __init__(self, keyspace: str, table: str = "") -> None:
        if table:
            msg = f"Cannot add already existing table \"{table}\" to keyspace \"{keyspace}\""
        else:
            msg = f"Cannot add existing keyspace \"{keyspace}\""
        super().__init__(msg)
        self.keyspace = keyspace
        self.table = table

    def tail(self, w: Writer) -> None:
        w.string(self.keyspace).string(self.table)


class Unprepared(CqlError):
    code = UNPREPARED

    def __init__(self, prepared_id: bytes) -> None:
        super().__init__(f"Prepared query with ID {prepared_id.hex()} not found (either the query was not "
                         "prepared on this host (maybe the host has been restarted?) or you have prepared "
                         "too many queries and it has been evicted from the internal cache)")
        self.prepared_id = prepared_id

    def tail(self, w: Writer) -> None:
        w.short_bytes(self.prepared_id)


class Unavailable(CqlError):
    code = UNAVAILABLE

    def __init__(self, consistency: int, required: int, alive: int, cl_name: str) -> None:
        super().__init__(f"Cannot achieve consistency level {cl_name}")
        self.consistency, self.required, self.alive = consistency, required, alive

    def tail(self, w: Writer) -> None:
        w.short(self.consistency).int(self.required).int(self.alive)


class WriteTimeout(CqlError):
    code = WRITE_TIMEOUT

    def __init__(self, consistency: int, received: int, block_for: int, write_type: str, cl_name: str) -> None:
        assert write_type in WRITE_TYPES
        super().__init__(f"Operation timed out - received only {received} responses. ({cl_name})")
        self.consistency, self.received, self.block_for, self.write_type = consistency, received, block_for, write_type

    def tail(self, w: Writer) -> None:
        w.short(self.consistency).int(self.received).int(self.block_for).string(self.write_type)


class ReadTimeout(CqlError):
    code = READ_TIMEOUT

    def __init__(self, consistency: int, received: int, block_for: int, data_present: bool, cl_name: str) -> None:
        super().__init__(f"Operation timed out - received only {received} responses. ({cl_name})")
        self.consistency, self.received, self.block_for, self.data_present = consistency, received, block_for, data_present

    def tail(self, w: Writer) -> None:
        w.short(self.consistency).int(self.received).int(self.block_for).byte(1 if self.data_present else 0)
