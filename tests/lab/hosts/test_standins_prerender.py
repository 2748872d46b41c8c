"""The stand-ins' answers rendered ahead (a /bin/sh wrapper sourcing a snippet) equal the answers
rendered at call time by render.py, for a host and a guest, healthy and under every fault that only
edits the state file. No namespace needed: the wrappers run here, on the node directory's paths.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloudgate.target import load_target
from cloudgate_lab import guests, hosts
from cloudgate_lab.hostfaults import _FAULTS, _set
from cloudgate_lab.standins import STANDINS_DIR, render
from cloudgate_lab.topology import build_topology

LAB_TARGET = Path(__file__).resolve().parents[3] / "fixtures/targets/lab.yaml"
# Faults whose whole effect is the state file (the others also start or stop processes, or mount).
STATE_ONLY_FAULTS = sorted(name for name, f in _FAULTS.items() if f.on_apply is None or name == "fio-driver-missing")


def _host_state() -> dict[str, Any]:
    topology = build_topology(load_target(str(LAB_TARGET)).target)
    return hosts.default_host_state(topology.hosts[0], topology)


def _guest_state() -> dict[str, Any]:
    spec = guests.GuestSpec(vm_id="vm-1", name="cass-dc1-1", host_name="dc1-r1-h1", ip="198.18.1.100",
                            template="cassandra")
    return guests.default_guest_state(spec, "198.18.1.1")


def _node(tmp_path: Path, kind: str, state: dict[str, Any], commands: tuple[str, ...]) -> hosts.Node:
    node = hosts.Node(kind, state.get("name", kind), "cg-none", state.get("ip", ""), tmp_path / kind)
    node.dir.mkdir(parents=True)
    hosts.write_state(node.state_file, state)
    hosts.write_standin_wrappers(node, commands)
    return node


def _rendered_now(node: hosts.Node, command: str, argv: tuple[str, ...]) -> tuple[int, str, str]:
    program = (f"import sys; sys.path.insert(0, {str(STANDINS_DIR)!r}); from render import main; "
               f"sys.exit(main({command!r}, {str(node.state_file)!r}, sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-IS", "-c", program, *argv], capture_output=True, text=True, timeout=20)
    return done.returncode, done.stdout, done.stderr


def _through_wrapper(node: hosts.Node, command: str, argv: tuple[str, ...]) -> tuple[int, str, str]:
    done = subprocess.run([str(node.dir / "bin" / command), *argv], capture_output=True, text=True, timeout=20)
    return done.returncode, done.stdout, done.stderr


def _comparable(command: str, text: str) -> str:
    """chronyc's Ref time is the time of the render (documented in render.py): compare without it."""
    if command != "chronyc":
        return text
    return "\n".join(line for line in text.splitlines() if not line.startswith("Ref time"))


def _assert_same_answers(node: hosts.Node, commands: tuple[str, ...]) -> int:
    state = hosts.read_state(node.state_file)
    checked = 0
    for command in commands:
        for argv in render.prerendered_calls(state).get(command, []):
            snippet = node.dir / "out" / command / render.snippet_name(argv)
            if not snippet.exists():  # the real binary answers this call: nothing was rendered ahead
                continue
            now = _rendered_now(node, command, argv)
            ahead = _through_wrapper(node, command, argv)
            assert (ahead[0], _comparable(command, ahead[1]), ahead[2]) == (
                now[0], _comparable(command, now[1]), now[2]), f"{command} {' '.join(argv)}"
            checked += 1
    return checked


@pytest.mark.parametrize("fault", ["healthy", *STATE_ONLY_FAULTS])
def test_a_hosts_answers_rendered_ahead_are_those_rendered_at_call_time(tmp_path: Path, fault: str) -> None:
    node = _node(tmp_path, "host", _host_state(), hosts.STANDIN_COMMANDS)
    if fault != "healthy":
        hosts.update_state(node, lambda s: [_set(s, k, v) for k, v in _FAULTS[fault].changes({}).items()])
    assert _assert_same_answers(node, hosts.STANDIN_COMMANDS) >= 8


@pytest.mark.parametrize("fault", ["healthy", "ntp-unsync", "swap-on", "max-map-count-low", "nofile-low", "wrong-kernel"])
def test_a_guests_answers_rendered_ahead_are_those_rendered_at_call_time(tmp_path: Path, fault: str) -> None:
    commands = tuple(c for c in guests.GUEST_COMMANDS if c != "systemctl")
    node = _node(tmp_path, "guest", _guest_state(), commands)
    if fault != "healthy":
        hosts.update_state(node, lambda s: [_set(s, k, v) for k, v in _FAULTS[fault].changes({}).items()])
    assert _assert_same_answers(node, commands) >= 10


def test_a_call_not_rendered_ahead_still_gets_its_answer(tmp_path: Path) -> None:
    node = _node(tmp_path, "host", _host_state(), hosts.STANDIN_COMMANDS)
    rc, out, _ = _through_wrapper(node, "xe", ("host-list", "params=name-label"))
    assert rc == 0 and "name-label ( RW)" in out
    rc, out, _ = _through_wrapper(node, "uname", ("-s",))  # the real uname, through render.py's fallback
    assert rc == 0 and out.strip() == "Linux"


def test_the_real_binary_answers_a_key_the_state_does_not_fake(tmp_path: Path) -> None:
    node = _node(tmp_path, "guest", _guest_state(), ("sysctl",))
    rc, out, _ = _through_wrapper(node, "sysctl", ("-n", "kernel.ostype"))
    assert rc == 0 and out.strip() == "Linux"
