"""The placement rules, stated once and used by check(), the greedy engine and the exact solver.

Hard rules
    * capacity: on every host and for each resource, the VMs' total size is at most the effective
      capacity (physical x overprovisioning factor, rounded down; flash has no factor);
    * anti-affinity: at most one VM of a group per host, counting VMs already there;
    * host state: new VMs go only to hosts in state ``enabled`` (check() also flags VMs left on a
      host that is down or in maintenance, since that is what an evacuation must fix).

Rack-spread rule ("as evenly as possible"), judged against the estate *before* the request
    For a group g and a datacenter d, let ``count[r]`` be the number of g's VMs on hosts of rack r
    after placement (every rack of d that has at least one host, any state; members already
    running count too, so growing a ring by one node puts it in its lightest rack). A rack is
    **open** for g when, *before* the request, it holds an enabled host that runs no VM of g and
    whose free capacity is at least the *probe* of g in every resource, the probe being the
    smallest size of g's VMs in d taken resource by resource (for a uniform group, simply its VM
    size). The **imbalance** of g in d is::

        max over all racks of count[r]  -  min over open racks of count[r]

    (0 when no rack is open), and the rule holds when it is at most 1: no rack may hold two more
    members than a rack that could take one before the request was placed.

    Openness is fixed before placement on purpose. Judged on the final estate, a rack filled by
    *other* groups' new VMs would stop counting, and the engine could excuse itself from spreading
    a group there. Fixed beforehand, room in a rack is first claimed by the spread of the groups
    that need it, and only then by packing. When no placement at all brings every group to an
    imbalance of at most 1 (a rack has room for fewer members than the level needs), the engine
    minimises the imbalance and says so in the plan (``PlacementResult.spread``); that is a
    reported property of the plan, not a refusal. check() on a live estate, with no request,
    judges the estate as it stands (it is its own "before").
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


def open_racks_before(p: DCProblem, group: str, probe: tuple[int, int, int] | None = None) -> np.ndarray:
    """The racks open for ``group`` before the request: ``p`` is the estate before placement.

    The one definition of openness shared by check() (given the estate before), the greedy
    engine and the exact solver. ``probe`` defaults to ``p.probe(group)``, which counts the new
    VMs of ``p``; check() passes the probe of the final estate.
    """
    return open_racks(p, p.res, p.member_hosts.get(group, []), probe or p.probe(group))


def spread_gap(counts: np.ndarray, open_: np.ndarray) -> int:
    """The imbalance: heaviest rack minus lightest open rack (0 when no rack is open)."""
    if not open_.any():
        return 0
    return max(0, int(counts.max() - counts[open_].min()))


def spread_breach(counts: np.ndarray, open_: np.ndarray, allowed: int = 1) -> tuple[int, int] | None:
    """(heaviest rack, lightest open rack) when the imbalance exceeds ``allowed``, else None."""
    if spread_gap(counts, open_) <= allowed:
        return None
    open_idx = np.flatnonzero(open_)
    light = int(open_idx[np.argmin(counts[open_idx])])
    heavy = int(np.argmax(counts))
    return heavy, light
