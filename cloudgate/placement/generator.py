"""Seeded benchmark instances (placement.md section 4) and small adversarial gadgets.

Random estates look like the team's cloud: 2 DCs, up to 20 racks per DC with uneven sizes, a
heterogeneous host catalogue, about 6 VMs per busy host filled to a Beta-distributed utilisation,
5-15 % empty hosts, and some existing groups that receive new members. The gadgets are the small
cases where greedy allocators go wrong; each is built so that a placement exists (or provably not)
and documents which allocator it defeats. Everything is a pure function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import Estate, ExistingVM, GroupRequest, Host, Overprovisioning, Request, Size

#: (cores, memory GiB, flash GiB) of the host models in the fleet.
HOST_CATALOGUE: tuple[tuple[int, int, int], ...] = (
    (32, 256, 3840),
    (48, 384, 3840),
    (64, 512, 7680),
    (96, 768, 7680),
)
#: (cores, memory GiB, flash GiB) of the VM offerings.
FLAVOURS: tuple[tuple[int, int, int], ...] = (
    (2, 8, 50),
    (4, 16, 100),
    (8, 32, 200),
    (8, 64, 400),
    (16, 64, 400),
    (16, 128, 800),
)
CASSANDRA_FLAVOURS: tuple[tuple[int, int, int], ...] = ((8, 32, 400), (16, 64, 800))
DATACENTERS = ("dc1", "dc2")


def _racks_per_dc(hosts_in_dc: int, max_racks: int) -> int:
    return max(2, min(max_racks, hosts_in_dc // 8))


def generate_estate(
    n_hosts: int,
    seed: int,
    *,
    max_racks: int = 20,
    vms_per_host: float = 6.0,
    empty_share: tuple[float, float] = (0.05, 0.15),
    cpu_overprovisioning: float = 2.0,
    load_beta: tuple[float, float] = (7.2, 2.8),
) -> Estate:
    """A random estate of ``n_hosts`` hosts over two DCs (see module docstring).

    ``load_beta`` shapes the per-host target utilisation (mean a/(a+b), 0.72 by default; a tight
    estate such as (18, 2) leaves few holes, so a big request must open empty hosts).
    """
    rng = np.random.default_rng(seed)
    hosts: list[Host] = []
    vm_no = 0
    empty_p = float(rng.uniform(*empty_share))
    per_dc = [n_hosts // 2 + (1 if i < n_hosts % 2 else 0) for i in range(2)]
    group_no = 0
    for dc, count in zip(DATACENTERS, per_dc, strict=True):
        n_racks = _racks_per_dc(count, max_racks)
        weights = rng.uniform(0.8, 1.2, size=n_racks)
        rack_sizes = np.floor(weights / weights.sum() * count).astype(int)
        rack_sizes[: count - rack_sizes.sum()] += 1
        host_models = rng.integers(0, len(HOST_CATALOGUE), size=n_racks)
        for r, size in enumerate(rack_sizes):
            rack = f"{dc}-rack{r + 1:02d}"
            for i in range(int(size)):
                model = HOST_CATALOGUE[int(host_models[r] if rng.random() < 0.7 else rng.integers(0, 4))]
                cores, mem_gib, flash = model
                cap = np.asarray([cores * cpu_overprovisioning, mem_gib * 1024, flash], dtype=float)
                vms: list[ExistingVM] = []
                if rng.random() >= empty_p:
                    target = float(rng.beta(*load_beta))
                    want = max(1, int(rng.poisson(vms_per_host)))
                    used = np.zeros(3)
                    for _ in range(want * 3):
                        if len(vms) >= want:
                            break
                        c, m, f = FLAVOURS[int(rng.integers(0, len(FLAVOURS)))]
                        add = np.asarray([c, m * 1024, f], dtype=float)
                        if np.all(used + add <= cap * target):
                            used += add
                            vm_no += 1
                            vms.append(
                                ExistingVM(id=f"vm-{vm_no:06d}", cpu=c, memory_mib=m * 1024, flash_gib=f)
                            )
                hosts.append(
                    Host(
                        id=f"{dc}-{r + 1:02d}-{i + 1:03d}",
                        datacenter=dc,
                        rack=rack,
                        cpu=cores,
                        memory_mib=mem_gib * 1024,
                        flash_gib=flash,
                        vms=vms,
                    )
                )
        # existing groups: one member per rack on busy hosts, so they start spread-valid
        dc_hosts = [h for h in hosts if h.datacenter == dc and h.vms]
        by_rack: dict[str, list[Host]] = {}
        for h in dc_hosts:
            by_rack.setdefault(h.rack, []).append(h)
        rack_names = sorted(by_rack)
        for _ in range(max(1, count // 60)):
            group_no += 1
            name = f"app-{group_no:03d}"
            k = min(len(rack_names), int(rng.integers(2, 5)))
            for rack in sorted(rng.choice(rack_names, size=k, replace=False).tolist()):
                host = by_rack[rack][int(rng.integers(0, len(by_rack[rack])))]
                victim = host.vms[int(rng.integers(0, len(host.vms)))]
                if victim.group is None:
                    victim.group = name
    rng.shuffle(hosts)  # CloudStack lists hosts in no meaningful order
    return Estate(hosts=hosts, overprovisioning=Overprovisioning(cpu=cpu_overprovisioning, memory=1.0))


def cassandra_request(n_rings: int, seed: int, rf: int = 3) -> Request:
    """``n_rings`` Cassandra clusters, RF ``rf`` in each of the two DCs."""
    rng = np.random.default_rng(seed)
    groups = []
    for i in range(n_rings):
        c, m, f = CASSANDRA_FLAVOURS[int(rng.integers(0, len(CASSANDRA_FLAVOURS)))]
        groups.append(
            GroupRequest(
                group=f"cass-{i + 1:02d}",
                size=Size(cpu=c, memory_mib=m * 1024, flash_gib=f),
                per_dc={dc: rf for dc in DATACENTERS},
            )
        )
    return Request(groups=groups)


def batch_request(
    estate: Estate,
    n_vms: int,
    n_groups: int,
    seed: int,
    flavours: tuple[tuple[int, int, int], ...] = FLAVOURS[:5],
) -> Request:
    """``n_vms`` VMs in ``n_groups`` groups: ~20 % Cassandra rings (3+3), singletons, and
    single-DC groups of 2..12 (a few of them joining groups that already exist in the estate).
    Non-Cassandra VMs draw their size from ``flavours``."""
    rng = np.random.default_rng(seed)
    dc_hosts = min(sum(1 for h in estate.hosts if h.datacenter == dc) for dc in DATACENTERS)
    max_group = max(2, min(12, dc_hosts // 3))
    n_rings = max(1, n_groups // 5)
    n_single = max(1, n_groups // 15)
    n_plain = max(1, n_groups - n_rings - n_single)
    remaining = n_vms - 6 * n_rings - n_single
    sizes = rng.integers(2, max_group + 1, size=n_plain)
    while sizes.sum() != remaining:
        i = int(rng.integers(0, n_plain))
        if sizes.sum() < remaining and sizes[i] < max_group:
            sizes[i] += 1
        elif sizes.sum() > remaining and sizes[i] > 1:
            sizes[i] -= 1
        elif (sizes >= max_group).all() or (sizes <= 1).all():
            break
    existing = sorted({vm.group for h in estate.hosts for vm in h.vms if vm.group})
    existing_dc = {vm.group: h.datacenter for h in estate.hosts for vm in h.vms if vm.group}
    groups: list[GroupRequest] = []
    for i in range(n_rings):
        c, m, f = CASSANDRA_FLAVOURS[int(rng.integers(0, len(CASSANDRA_FLAVOURS)))]
        groups.append(
            GroupRequest(
                group=f"ring-{i + 1:03d}",
                size=Size(cpu=c, memory_mib=m * 1024, flash_gib=f),
                per_dc={dc: 3 for dc in DATACENTERS},
            )
        )
    joins = existing[: max(0, min(len(existing), n_plain // 20))]
    for i, k in enumerate(sizes.tolist()):
        c, m, f = flavours[int(rng.integers(0, len(flavours)))]
        if i < len(joins):
            name, dc = joins[i], existing_dc[joins[i]]
        else:
            name, dc = f"grp-{i + 1:03d}", DATACENTERS[int(rng.integers(0, 2))]
        groups.append(
            GroupRequest(group=name, size=Size(cpu=c, memory_mib=m * 1024, flash_gib=f), per_dc={dc: int(k)})
        )
    for i in range(n_single):
        c, m, f = flavours[int(rng.integers(0, len(flavours)))]
        dc = DATACENTERS[int(rng.integers(0, 2))]
        groups.append(
            GroupRequest(
                group=f"solo-{i + 1:03d}", size=Size(cpu=c, memory_mib=m * 1024, flash_gib=f), per_dc={dc: 1}
            )
        )
    return Request(groups=groups)


# --------------------------------------------------------------------------- adversarial gadgets


@dataclass(frozen=True)
class Gadget:
    """A crafted instance: ``expect`` says what a correct allocator must conclude."""

    name: str
    estate: Estate
    request: Request
    expect: str  # "feasible" or "infeasible"
    story: str


def _host(hid: str, cores: int, rack: str = "rack1", dc: str = "dc1", mem_gib: int = 64) -> Host:
    return Host(id=hid, datacenter=dc, rack=rack, cpu=cores, memory_mib=mem_gib * 1024, flash_gib=0)


def _grp(name: str, cores: int, count: int, dc: str = "dc1", mem_gib: int = 1) -> GroupRequest:
    return GroupRequest(
        group=name, size=Size(cpu=cores, memory_mib=mem_gib * 1024, flash_gib=0), per_dc={dc: count}
    )


def gadgets() -> list[Gadget]:
    """The crafted instances used by the tests and the benchmark (placement.md section 4)."""
    return [
        Gadget(
            "firstfit-doubles-replicas",
            Estate(hosts=[_host("big-1", 64, "rack1"), _host("h-2", 16, "rack2"), _host("h-3", 16, "rack3")]),
            Request(groups=[_grp("cass", 8, 3)]),
            "feasible",
            "the first host has room for the whole ring; FirstFit without anti-affinity puts 3 replicas on it",
        ),
        Gadget(
            "g1-singleton-steals-a-host",
            Estate(hosts=[_host("a", 2), _host("b", 2), _host("c", 4)]),
            Request(groups=[_grp("solo", 2, 1), _grp("ring", 2, 3)]),
            "feasible",
            "the singleton takes a small host first; the 3-member group then lacks 3 distinct hosts",
        ),
        Gadget(
            "g2-small-group-first",
            Estate(hosts=[_host("a", 1), _host("b", 1), _host("c", 2), _host("d", 2)]),
            Request(groups=[_grp("p", 1, 2), _grp("q", 1, 4)]),
            "feasible",
            "group P (2) placed first fills the 1-core hosts; group Q (4) then lacks 4 distinct hosts",
        ),
        Gadget(
            "g3-ffd-bfd-pack-badly",
            Estate(hosts=[_host("a", 7), _host("b", 7)]),
            Request(groups=[_grp(f"s{i}", c, 1) for i, c in enumerate((3, 3, 2, 2, 2, 2))]),
            "feasible",
            "first/best fit decreasing put 3+3 together and strand the last 2; {3,2,2}+{3,2,2} fits",
        ),
        Gadget(
            "g4-groups-and-holes",
            Estate(hosts=[_host("h3", 3), _host("h6", 6), _host("h4", 4)]),
            Request(
                groups=[
                    _grp("ab", 3, 2),
                    GroupRequest(group="c", size=Size(cpu=3, memory_mib=1024), per_dc={"dc1": 1}),
                    _grp("d", 2, 1),
                    _grp("e", 2, 1),
                ]
            ),
            "feasible",
            "demand equals capacity; the engine's greedy passes strand 1-core holes, its CP-SAT fallback finds "
            "a->h3, b->h6, c->h6, d->h4, e->h4",
        ),
        Gadget(
            "rack-blind-anti-affinity",
            Estate(
                hosts=[_host(f"r1-{i}", 16, "rack1") for i in range(1, 4)]
                + [_host(f"r2-{i}", 16, "rack2") for i in range(1, 4)]
            ),
            Request(groups=[_grp("cass", 8, 3)]),
            "feasible",
            "host anti-affinity alone puts all 3 replicas in rack1; NetworkTopologyStrategy then loses the rack guarantee",
        ),
        Gadget(
            "infeasible-despite-capacity",
            Estate(
                hosts=[_host(f"big-{i}", 64) for i in range(1, 4)]
                + [_host(f"full-{i}", 7) for i in range(1, 8)]
            ),
            Request(groups=[_grp("cass", 8, 4)]),
            "infeasible",
            "free cores are 8x the demand but only 3 hosts can take an 8-core member of a 4-member group",
        ),
    ]
