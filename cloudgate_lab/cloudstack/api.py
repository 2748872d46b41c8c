"""One API call, from raw params to (HTTP status, JSON body): the order of checks ApiServlet/ApiServer use.

1. unknown command -> 432 `errorresponse` (checked before the signature, like the real server);
2. signature, key and expiry -> 401;
3. role: admin-only command for a plain user -> 432;
4. lab fault injection (`lab.fail.<command>`);
5. declared params (missing required -> 431), then the handler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .commands import REGISTRY
from .envelope import (
    ACCOUNT_ERROR,
    AUTH_FAILED_TEXT,
    INSUFFICIENT_CAPACITY_ERROR,
    INTERNAL_ERROR,
    INTERNAL_ERROR_TEXT,
    PARAM_ERROR,
    RESOURCE_UNAVAILABLE_ERROR,
    UNAUTHORIZED,
    UNSUPPORTED_ACTION_ERROR,
    ApiError,
    envelope,
    error_envelope,
    unknown_command,
)
from .registry import Request, check_params
from .signing import first_values, verify_request

if TYPE_CHECKING:
    from .simulator import Simulator

log = logging.getLogger(__name__)

# Never stored with a job nor handed to handlers: they authenticate the call, they are not its arguments.
_TRANSPORT_PARAMS = {"command", "apikey", "signature", "signatureversion", "expires", "response", "sessionkey"}
# Fault injection never blocks the way to undo it.
_NOT_INJECTABLE = {"updateConfiguration", "listConfigurations"}


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    command: str | None
    account: str | None


def injected_error(command: str, code: int) -> ApiError:
    """A CloudStack-looking failure for `lab.fail.<command>=<code>`."""
    texts = {
        UNAUTHORIZED: AUTH_FAILED_TEXT,
        PARAM_ERROR: f"Unable to execute API command {command.lower()} due to invalid value. Invalid parameter "
                     f"value supplied to {command}",
        ACCOUNT_ERROR: "Account is not allowed to perform this operation",
        INSUFFICIENT_CAPACITY_ERROR: "Insufficient capacity to perform the operation, please retry later",
        RESOURCE_UNAVAILABLE_ERROR: "Resource is unavailable, please retry later",
    }
    if code == UNSUPPORTED_ACTION_ERROR:
        return unknown_command()
    return ApiError(code, texts.get(code, INTERNAL_ERROR_TEXT), None if code == UNAUTHORIZED else -1)


def handle(sim: Simulator, pairs: list[tuple[str, str]]) -> Outcome:
    raw = first_values(pairs)
    lower: dict[str, str] = {}
    for name, value in raw.items():
        lower.setdefault(name.lower(), value)
    command = lower.get("command")
    cmd = REGISTRY.get(command) if command else None
    if cmd is None or command is None:
        return Outcome(UNSUPPORTED_ACTION_ERROR, error_envelope(None, unknown_command()), command, None)
    try:
        account = verify_request(raw, sim.credentials_for_key)
    except ApiError as err:
        return Outcome(err.errorcode, error_envelope(command, err), command, None)
    try:
        if cmd.admin_only and not account.is_root_admin:
            raise unknown_command()
        if command not in _NOT_INJECTABLE:
            code = sim.config.failure_for(command)
            if code:
                raise injected_error(command, code)
        params = {k: v for k, v in lower.items() if k not in _TRANSPORT_PARAMS and v != ""}
        req = Request(command, params, account, sim)
        check_params(cmd, req)
        payload = cmd.handler(req)
        return Outcome(200, envelope(command, payload), command, account.name)
    except ApiError as err:
        return Outcome(err.errorcode, error_envelope(command, err), command, account.name)
    except Exception:
        log.exception("command %s crashed", command)
        err = ApiError(INTERNAL_ERROR, INTERNAL_ERROR_TEXT)
        return Outcome(err.errorcode, error_envelope(command, err), command, account.name)
