"""CloudStack client for the suite, on top of `cs`: read-only by default, one-line errors, cleanup.

Why a wrapper and not `cs` directly:
- a smoke run on production must never change anything, and that is enforced here, in code: any
  command that is not a read (list*/query*/get*) raises `MutationRefused` unless the client was
  built for a destructive run;
- every failure becomes one `CloudStackError` line naming the target and the cause (unreachable,
  credentials refused, an API error code) — never a traceback wall, never a URL that carries the
  API key or the signature;
- what a destructive check creates is written to the run ledger before it is created and removed
  afterwards, even when the check fails or is interrupted: that is cloudgate.tracker's job, above
  both this client and cloudgate.undo (which undoes through this client).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from cs import CloudStack, CloudStackApiException, CloudStackException
from pydantic import SecretStr

from cloudgate.errors import CloudStackError  # defined there: the plugin must not load cs and requests
from cloudgate.target import LoadedTarget

READ_PREFIXES = ("list", "query", "get")
MUTATING_DESPITE_PREFIX = ("getUploadParams",)  # get* commands that create records


class MutationRefused(CloudStackError):
    """A mutating command was attempted by a read-only (non-destructive) run."""


_SECRET_QS = re.compile(r"(?i)(apikey|signature|secretkey|expires)=[^&\s'\"]*")


def scrub(text: str) -> str:
    """Remove API keys and signatures from text bound for a log or a report."""
    return _SECRET_QS.sub(lambda m: f"{m.group(1)}=***", text)


def is_read_only(command: str) -> bool:
    return command.startswith(READ_PREFIXES) and not command.startswith(MUTATING_DESPITE_PREFIX)


@dataclass
class CloudStackClient:
    """The suite's handle on one CloudStack endpoint."""

    target_name: str
    endpoint: str
    api_key: str
    secret: SecretStr
    timeout: float = 10.0
    job_timeout: float = 600.0
    verify_tls: bool = True
    allow_mutations: bool = False
    key_variable: str = "the API key variable"
    _cs: CloudStack = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cs = CloudStack(
            endpoint=self.endpoint,
            key=self.api_key,
            secret=self.secret.get_secret_value(),
            timeout=self.timeout,
            job_timeout=int(self.job_timeout),
            poll_interval=0.2,
            verify=self.verify_tls,
            # POST: the API key and signature travel in the body, never in a URL a proxy or a
            # DEBUG log (urllib3) could record
            method="post",
        )

    @classmethod
    def for_target(cls, loaded: LoadedTarget, *, allow_mutations: bool = False) -> CloudStackClient:
        """The client a target file describes (its secrets from the variables it names)."""
        cs = loaded.target.cloudstack
        key, secret = loaded.api_credentials()
        return cls(
            target_name=loaded.target.name, endpoint=cs.endpoint, api_key=key, secret=secret,
            timeout=cs.timeout_seconds, job_timeout=cs.job_timeout_seconds, verify_tls=cs.verify_tls,
            allow_mutations=allow_mutations, key_variable=cs.api_key_env,
        )

    def __repr__(self) -> str:  # never print the key or the secret
        return f"CloudStackClient({self.target_name!r}, {self.endpoint!r}, mutations={self.allow_mutations})"

    # -- calls ------------------------------------------------------------------------------
    def call(self, command: str, **params: Any) -> dict[str, Any]:
        """One API call; async commands are waited for (fetch_result) and return the job result."""
        if not is_read_only(command) and not self.allow_mutations:
            raise MutationRefused(
                f"{self.target_name}: refused to send {command}: this run is read-only "
                "(mutating commands need a destructive test, --allow-destructive and a lab/preproduction target)",
                command=command,
            )
        method = getattr(self._cs, command)
        try:
            return method(**params)
        except CloudStackApiException as exc:
            raise self._api_error(command, exc) from None
        except requests.exceptions.Timeout:
            raise CloudStackError(
                f"{self.target_name}: CloudStack API at {self.endpoint} did not answer {command} within {self.timeout:g} s",
                command=command,
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise CloudStackError(
                f"{self.target_name}: CloudStack API unreachable at {self.endpoint} ({_root_cause(exc)})",
                command=command,
            ) from None
        except CloudStackException as exc:
            raise CloudStackError(
                f"{self.target_name}: {command} failed: {scrub(first_line(exc))}", command=command
            ) from None

    def list(self, command: str, **params: Any) -> list[dict[str, Any]]:
        """A list* call with every page fetched; always a list (empty when CloudStack says {})."""
        result = self.call(command, fetch_list=True, **params)
        return result if isinstance(result, list) else []

    def wait_job(self, jobid: str, timeout: float | None = None,
                 stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Poll queryAsyncJobResult until the job ends; a failed job raises with its errortext.

        `stop` (checked between polls) abandons the wait — the job goes on — when the run is interrupted."""
        deadline = time.monotonic() + (timeout or self.job_timeout)
        while True:
            if stop is not None and stop():
                raise CloudStackError(f"{self.target_name}: stopped waiting for job {jobid}: the run was interrupted")
            job = self.call("queryAsyncJobResult", jobid=jobid)
            status = int(job.get("jobstatus", 0))
            if status == 1:
                return job.get("jobresult", {})
            if status == 2:
                result = job.get("jobresult", {}) or {}
                code = result.get("errorcode") or job.get("jobresultcode")
                raise CloudStackError(
                    f"{self.target_name}: job {jobid} ({job.get('cmd', '?').rsplit('.', 1)[-1]}) failed: "
                    f"{code} {result.get('errortext', '')}".strip(),
                    errorcode=int(code) if code else None,
                )
            if time.monotonic() > deadline:
                raise CloudStackError(f"{self.target_name}: job {jobid} still pending after {timeout or self.job_timeout:g} s")
            time.sleep(0.2)

    def _api_error(self, command: str, exc: CloudStackApiException) -> CloudStackError:
        error = exc.error if isinstance(getattr(exc, "error", None), dict) else {}
        code = error.get("errorcode")
        text = scrub(str(error.get("errortext") or first_line(exc)))
        if code == 401:
            text = (
                f"API credentials refused (401: {text}); check the key and secret in ${self.key_variable} "
                "and its secret variable"
            )
        elif code == 432:
            text = f"command not available (432: {text})"
        else:
            text = f"{code} {text}" if code else text
        return CloudStackError(f"{self.target_name}: {command} failed: {text}", errorcode=code, command=command)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests ConnectionError ('Connection refused'), scrubbed."""
    cause: BaseException | None = exc
    while cause is not None and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    text = str(cause or exc)
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return scrub(m.group(1).strip() if m else text.splitlines()[0])[:160]
