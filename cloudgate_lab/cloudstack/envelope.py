"""Response envelopes, error codes and dates exactly as a CloudStack management server writes them.

Clients (cs, cmk) parse these shapes literally: one top-level `<command>response` key, the HTTP status
equal to `errorcode`, empty lists written as `{}`. Keeping them in one module keeps every command honest.
"""

from __future__ import annotations

import time
from typing import Any

# ApiErrorCode (HTTP status == errorcode)
UNAUTHORIZED = 401
PARAM_ERROR = 431
UNSUPPORTED_ACTION_ERROR = 432
INTERNAL_ERROR = 530
ACCOUNT_ERROR = 531
INSUFFICIENT_CAPACITY_ERROR = 533
RESOURCE_UNAVAILABLE_ERROR = 534
RESOURCE_IN_USE_ERROR = 536

# CSExceptionErrorCode: the Java exception class behind an error
CS_CLOUD_RUNTIME = 4250
CS_INSUFFICIENT_CAPACITY = 4325
CS_INSUFFICIENT_SERVER_CAPACITY = 4335
CS_INVALID_PARAMETER_VALUE = 4350
CS_PERMISSION_DENIED = 4365
CS_SERVER_API = 9999

_DEFAULT_CS_CODE = {
    PARAM_ERROR: CS_INVALID_PARAMETER_VALUE,
    UNSUPPORTED_ACTION_ERROR: CS_SERVER_API,
    INTERNAL_ERROR: CS_CLOUD_RUNTIME,
    ACCOUNT_ERROR: CS_PERMISSION_DENIED,
    INSUFFICIENT_CAPACITY_ERROR: CS_INSUFFICIENT_SERVER_CAPACITY,
}

REASONS = {
    401: "Unauthorized",
    431: "Parameter Error",
    432: "Unsupported Action",
    530: "Internal Server Error",
    531: "Account Error",
    533: "Insufficient Capacity",
    534: "Resource Unavailable",
    536: "Resource In Use",
}

AUTH_FAILED_TEXT = "unable to verify user credentials and/or request signature"
UNKNOWN_COMMAND_TEXT = "The given command does not exist or it is not available for user"
INTERNAL_ERROR_TEXT = "Internal error executing command, please contact your system administrator"


class ApiError(Exception):
    """A failure the API reports to the client (sync: HTTP status; async: jobresultcode)."""

    def __init__(
        self,
        errorcode: int,
        errortext: str,
        cserrorcode: int | None = -1,
        *,
        envelope_key: str | None = None,
    ) -> None:
        super().__init__(errortext)
        self.errorcode = errorcode
        self.errortext = errortext
        self.cserrorcode = _DEFAULT_CS_CODE.get(errorcode, CS_SERVER_API) if cserrorcode == -1 else cserrorcode
        self.envelope_key = envelope_key  # "errorresponse" for unknown commands

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uuidList": [], "errorcode": self.errorcode}
        if self.cserrorcode is not None:
            out["cserrorcode"] = self.cserrorcode
        out["errortext"] = self.errortext
        return out

    def job_result(self) -> dict[str, Any]:
        """What ApiAsyncJobDispatcher stores as jobresult: no cserrorcode there."""
        return {"uuidList": [], "errorcode": self.errorcode, "errortext": self.errortext}


def missing_parameter(command: str, name: str) -> ApiError:
    return ApiError(PARAM_ERROR, f"Unable to execute API command {command.lower()} due to missing parameter {name}",
                    CS_SERVER_API)


def invalid_value(command: str, name: str, value: str) -> ApiError:
    """The message CloudStack gives for an unparsable value or a UUID that names nothing."""
    return ApiError(
        PARAM_ERROR,
        f"Unable to execute API command {command.lower()} due to invalid value. Invalid parameter {name} "
        f"value={value} due to incorrect long value format, or entity does not exist or due to incorrect "
        "parameter annotation for the field in api cmd class.",
        CS_SERVER_API,
    )


def unknown_command() -> ApiError:
    return ApiError(UNSUPPORTED_ACTION_ERROR, UNKNOWN_COMMAND_TEXT, CS_SERVER_API, envelope_key="errorresponse")


def unauthorized() -> ApiError:
    return ApiError(UNAUTHORIZED, AUTH_FAILED_TEXT, None)


def response_key(command: str) -> str:
    return f"{command.lower()}response"


def envelope(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {response_key(command): payload}


def error_envelope(command: str | None, err: ApiError) -> dict[str, Any]:
    key = err.envelope_key or (response_key(command) if command else "errorresponse")
    return {key: err.body()}


def list_payload(object_name: str, page: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """ListResponse serialization: `count` only when non-zero, the list only when the page has items."""
    out: dict[str, Any] = {}
    if total:
        out["count"] = total
    if page:
        out[object_name] = page
    return out


def cs_date(ts: float | None) -> str | None:
    """CloudStack's `yyyy-MM-dd'T'HH:mm:ssZ`, always in UTC (`+0000`)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def percent(part: float, total: float) -> str:
    """`12.5%` style figures of HostResponse (DecimalFormat "#.##")."""
    value = 0.0 if total <= 0 else part * 100.0 / total
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"
