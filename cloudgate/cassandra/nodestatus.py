"""Is every Cassandra node alive? What a node says of its peers (`nodetool status`), judged purely.

Why a node's own view and not only ours: the suite reaching a node proves the node serves *us*; its
peers marking it Down is what makes coordinators stop sending it writes, hints pile up and
LOCAL_QUORUM fail. Operators read that view with `nodetool status` ("UN" = Up and Normal), so the
suite reads the same table over SSH (cloudgate.roles) and judges it here, without I/O, so that the
rules are unit-tested on samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROW = re.compile(r"^(?P<status>[UD])(?P<state>[NLJM])\s+(?P<address>\S+)\s")
_DC = re.compile(r"^Datacenter:\s*(?P<dc>\S+)")
STATES = {"N": "Normal", "L": "Leaving", "J": "Joining", "M": "Moving"}


@dataclass(frozen=True)
class PeerStatus:
    """One row of `nodetool status`: a node as the viewer's gossip has it."""

    address: str
    datacenter: str
    up: bool
    state: str  # Normal | Leaving | Joining | Moving


def parse_nodetool_status(text: str) -> list[PeerStatus]:
    """The rows of `nodetool status` (every datacenter); headers and notes are skipped."""
    rows: list[PeerStatus] = []
    dc = "?"
    for line in text.splitlines():
        line = line.strip()
        if m := _DC.match(line):
            dc = m.group("dc")
        elif m := _ROW.match(line):
            rows.append(PeerStatus(address=m.group("address"), datacenter=dc, up=m.group("status") == "U",
                                   state=STATES[m.group("state")]))
    return rows


def view_problems(rows: list[PeerStatus], ring: dict[str, str]) -> list[str]:
    """What is wrong in one node's view of the ring (``ring``: address -> datacenter, as the driver sees it).

    A peer Down, a peer not Normal (joining, leaving, moving: its ranges are in flux), and a node the
    ring names that this view lacks (the viewer has not heard of it: a split view of the cluster).
    An empty table is a problem too: a node answering nothing parsable is no evidence of health.
    """
    if not rows:
        return ["its `nodetool status` lists no node"]
    seen = {r.address: r for r in rows}
    problems = [f"sees {r.address} ({r.datacenter}) Down" for r in rows if not r.up]
    problems += [f"sees {r.address} ({r.datacenter}) {r.state}" for r in rows if r.up and r.state != "Normal"]
    problems += [f"does not list {address} ({dc})" for address, dc in sorted(ring.items()) if address not in seen]
    return problems
