"""One exec per host: the gathering script's framing survives whatever the commands print."""

from __future__ import annotations

import subprocess

import pytest

from cloudgate.ssh.gather import GatherError, HostFacts, Probe, new_token, parse, script

PROBE = Probe("test", {
    "plain": "echo hi",
    "no_newline": "printf 'no newline'",
    "fails": "sh -c 'echo oops >&2; exit 3'",
    "builtin": "ulimit -n",
    "hangs": "sleep 5",
    "prints_a_frame": "printf '\\n@0000 0 rc 0\\n'",
})


def gather_locally(probe: Probe, timeout_s: float = 1.0) -> dict:
    token = new_token()
    out = subprocess.run(["sh", "-s"], input=script(probe, timeout_s, token), capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return parse(probe, out, token)


def test_each_command_gives_its_own_stdout_status_and_stderr():
    results = gather_locally(PROBE)
    assert results["plain"].stdout == "hi\n" and results["plain"].rc == 0
    assert results["no_newline"].stdout == "no newline"
    assert (results["fails"].rc, results["fails"].stdout, results["fails"].stderr) == (3, "", "oops\n")
    assert results["builtin"].stdout.strip().isdigit() or results["builtin"].stdout.strip() == "unlimited"
    assert results["prints_a_frame"].stdout == "\n@0000 0 rc 0\n"


def test_a_hung_command_is_stopped_by_its_timeout_and_the_others_still_answer():
    results = gather_locally(PROBE, timeout_s=0.5)
    assert results["hangs"].timed_out
    assert results["plain"].succeeded


def test_an_answer_cut_short_is_refused_rather_than_read_as_empty_results():
    token = new_token()
    out = subprocess.run(["sh", "-s"], input=script(PROBE, 1.0, token), capture_output=True, text=True,
                         timeout=30, check=True).stdout
    with pytest.raises(GatherError, match="stops before"):
        parse(PROBE, out[: len(out) // 2], token)


def test_a_failed_command_never_reads_as_an_empty_answer():
    facts = HostFacts("dc1-r1-h1", gather_locally(PROBE, timeout_s=0.5))
    with pytest.raises(AssertionError, match=r"^dc1-r1-h1: `sh -c 'echo oops >&2; exit 3'` failed \(rc 3\): oops$"):
        facts.output("fails")
    with pytest.raises(AssertionError, match="hung"):
        facts.output("hangs")
    assert facts.output("plain") == "hi\n"
