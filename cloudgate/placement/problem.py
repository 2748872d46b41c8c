"""Array view of one datacenter, shared by the greedy engine, the exact solver, the bounds and check().

Every rule is per datacenter (a host belongs to one DC and every VM is pinned to one), so the
estate splits into independent sub-problems. Hosts are sorted by id inside a DC: ties are broken by
host id everywhere, which makes results independent of the order hosts are listed in the input.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .model import Estate, VMSpec, effective_capacity


@dataclass
class DCProblem:
    """One datacenter: its hosts as arrays plus the new VMs pinned to it.

    ``res`` is the residual capacity (effective capacity minus existing load; may be negative on an
    already overcommitted host). ``enabled`` is the host state as the rules see it (state
    ``enabled`` and not the host being evacuated); ``avail`` is the subset that may receive new VMs
    (also excluding hosts the request avoids). The rack-spread rule looks at ``enabled`` because
    check() judges the final estate and cannot know what a request avoided. ``member_hosts[g]``
    lists the positions of hosts running an existing VM of group g, once per VM.
    """

    datacenter: str
    host_ids: list[str]
    racks: list[str]
    rack_of: np.ndarray
    enabled: np.ndarray
    avail: np.ndarray
    cap: np.ndarray
    res: np.ndarray
    used: np.ndarray
    member_hosts: dict[str, list[int]]
    member_sizes: dict[str, list[tuple[int, int, int]]]
    vms: list[VMSpec] = field(default_factory=list)
    cpu_unit: str = "cores"
    #: probe() per group, computed once: ``vms`` and ``member_sizes`` do not change after building.
    _probes: dict[str, tuple[int, int, int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_hosts(self) -> int:
        return len(self.host_ids)

    def groups_of_new_vms(self) -> list[str]:
        """Groups receiving new VMs here, in first-seen order."""
        seen: dict[str, None] = {}
        for vm in self.vms:
            if vm.group is not None:
                seen.setdefault(vm.group, None)
        return list(seen)

    def existing_rack_counts(self, group: str) -> np.ndarray:
        counts = np.zeros(len(self.racks), dtype=np.int64)
        for pos in self.member_hosts.get(group, []):
            counts[self.rack_of[pos]] += 1
        return counts

    def probe(self, group: str) -> tuple[int, int, int]:
        """Smallest member of ``group`` in this DC, per resource (existing and new VMs).

        The rack-spread rule asks whether a rack "can take another member"; the probe is the size
        that question is asked with (see rules.py).
        """
        cached = self._probes.get(group)
        if cached is None:
            sizes = list(self.member_sizes.get(group, []))
            sizes.extend(vm.size() for vm in self.vms if vm.group == group)
            cached = self._probes[group] = tuple(min(s[i] for s in sizes) for i in range(3))  # type: ignore[assignment]
        return cached  # type: ignore[return-value]


def build_problems(
    estate: Estate,
    vms: list[VMSpec],
    avoid: frozenset[str] | set[str] = frozenset(),
    disabled: frozenset[str] | set[str] = frozenset(),
) -> dict[str, DCProblem]:
    """Split the estate by datacenter.

    ``avoid`` hosts take no new VM but still count as enabled for the spread rule; ``disabled``
    hosts (a host being evacuated) are treated as not enabled at all.
    """
    by_dc: dict[str, list] = defaultdict(list)
    for host in estate.hosts:
        by_dc[host.datacenter].append(host)
    vms_by_dc: dict[str, list[VMSpec]] = defaultdict(list)
    for vm in vms:
        vms_by_dc[vm.datacenter].append(vm)

    problems: dict[str, DCProblem] = {}
    factors = estate.factors()
    for dc in sorted(by_dc):
        hosts = sorted(by_dc[dc], key=lambda h: h.id)
        racks = sorted({h.rack for h in hosts})
        rack_index = {r: i for i, r in enumerate(racks)}
        n = len(hosts)
        cap = np.zeros((n, 3), dtype=np.int64)
        load = np.zeros((n, 3), dtype=np.int64)
        avail = np.zeros(n, dtype=bool)
        enabled = np.zeros(n, dtype=bool)
        used = np.zeros(n, dtype=bool)
        rack_of = np.zeros(n, dtype=np.int64)
        member_hosts: dict[str, list[int]] = defaultdict(list)
        member_sizes: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for pos, host in enumerate(hosts):
            cap[pos] = effective_capacity(host, *factors)
            rack_of[pos] = rack_index[host.rack]
            enabled[pos] = host.state == "enabled" and host.id not in disabled
            avail[pos] = enabled[pos] and host.id not in avoid
            used[pos] = bool(host.vms)
            c = m = f = 0
            for vm in host.vms:
                c += vm.cpu
                m += vm.memory_mib
                f += vm.flash_gib
                if vm.group is not None:
                    member_hosts[vm.group].append(pos)
                    member_sizes[vm.group].append(vm.size())
            load[pos] = (c, m, f)
        problems[dc] = DCProblem(
            datacenter=dc,
            host_ids=[h.id for h in hosts],
            racks=racks,
            rack_of=rack_of,
            enabled=enabled,
            avail=avail,
            cap=cap,
            res=cap - load,
            used=used,
            member_hosts=dict(member_hosts),
            member_sizes=dict(member_sizes),
            vms=vms_by_dc.get(dc, []),
            cpu_unit=estate.cpu_unit,
        )
    return problems
