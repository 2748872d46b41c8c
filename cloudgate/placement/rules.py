"""The placement rules, stated once and used by check(), the greedy engine and the exact solver.

Hard rules
    * capacity: on every host and for each resource, the VMs' total size is at most the effective
      capacity (physical x overprovisioning factor, rounded down; flash has no factor);
    * anti-affinity: at most one VM of a group per host, counting VMs already there;
    * host state: new VMs go only to hosts in state ``enabled`` (check() also flags VMs left on a
      host that is down or in maintenance, since that is what an evacuation must fix).

Rack-spread rule ("as evenly as possible")
    For a group g and a datacenter d, let ``count[r]`` be the number of g's VMs on hosts of rack r
    (every rack of d that has at least one host, any state; VMs on any host count). A rack is
    **open** for g when it holds at least one enabled host that runs no VM of g and whose free
    capacity is at least the *probe* of g in every resource, the probe being the smallest size of
    g's VMs in d taken resource by resource (for a uniform group, simply its VM size). The rule
    holds when::

        max over all racks of count[r]  <=  min over open racks of count[r] + 1

    (trivially true when no rack is open). In words: no rack may hold two more members than a rack
    that could still take one. A rack that cannot take another member (full, or every free host
    already runs a member) is allowed to lag behind; it is never allowed to lead by two. The rule is
    evaluated on the final estate, so check() needs nothing but the estate, and the engine and the
    exact solver enforce exactly this inequality for every (group, DC) that receives new VMs.
    For Cassandra's NetworkTopologyStrategy this means replicas of one ring land on distinct racks
    whenever there is room, and racks never differ by more than one replica where room exists.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .problem import DCProblem

CAPACITY = "placement.capacity"
ANTI_AFFINITY = "placement.anti-affinity"
HOST_STATE = "placement.host-state"
RACK_SPREAD = "placement.rack-spread"

RULES: dict[str, str] = {
    CAPACITY: "per host and resource, VM sizes fit the effective capacity",
    ANTI_AFFINITY: "at most one VM of a group per physical host",
    HOST_STATE: "VMs only on enabled hosts",
    RACK_SPREAD: "a group's VMs spread over a DC's racks as evenly as room allows",
}


def open_hosts(
    p: DCProblem, res: np.ndarray, members: Iterable[int], probe: tuple[int, int, int]
) -> np.ndarray:
    """Mask of hosts that could take one more member of a group of the given probe size."""
    mask = p.enabled & np.all(res >= np.asarray(probe, dtype=np.int64), axis=1)
    idx = list(members)
    if idx:
        mask[idx] = False
    return mask


def open_racks(
    p: DCProblem, res: np.ndarray, members: Iterable[int], probe: tuple[int, int, int]
) -> np.ndarray:
    """Mask over ``p.racks`` of racks that are open for the group (see module docstring)."""
    out = np.zeros(len(p.racks), dtype=bool)
    out[p.rack_of[open_hosts(p, res, members, probe)]] = True
    return out


def spread_breach(counts: np.ndarray, open_: np.ndarray) -> tuple[int, int] | None:
    """(heaviest rack, lightest open rack) when the spread inequality fails, else None."""
    if not open_.any():
        return None
    open_idx = np.flatnonzero(open_)
    light = int(open_idx[np.argmin(counts[open_idx])])
    heavy = int(np.argmax(counts))
    if counts[heavy] >= counts[light] + 2:
        return heavy, light
    return None
