"""Narrowing a run to part of the fleet: `--hosts-filter` and `--sample N`, from the estate snapshot.

After an incident the operator wants the smoke test of one rack, one cluster or a few hosts per
rack, in seconds, not the whole fleet. Both narrowings are pure functions of the snapshot, so every
xdist worker computes the same test ids and the controller records in the reports exactly what
the run covered (a narrowed run must never read as a full one).

- A filter is `key=pattern[,key=pattern...]` (all must match); repeated filters add hosts (any
  matches). Keys: dc, rack, cluster, tag, name; patterns are shell globs (`dc1-r1*`).
- A sample keeps N hosts per rack, chosen by a hash of the host's name: the same hosts every time
  for the same N (a re-run after a fix checks the hosts that failed), spread across the rack.
- Cassandra nodes follow the filter through the physical host their VM runs on; they are not
  sampled (a ring has few nodes next to the fleet, and each holds data).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudgate.estate import CassandraNode, HostRecord

KEYS = ("dc", "rack", "cluster", "tag", "name")


class SelectionError(ValueError):
    """A filter the run cannot apply: the message is the one line the operator sees."""


@dataclass(frozen=True)
class HostFilter:
    """One `--hosts-filter` value: every (key, glob) must match."""

    text: str
    terms: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> HostFilter:
        terms = []
        for part in (p.strip() for p in text.split(",")):
            key, sep, pattern = part.partition("=")
            key = key.strip()
            if not sep or not pattern.strip():
                raise SelectionError(f"--hosts-filter {text!r}: {part!r} is not key=pattern (keys: {', '.join(KEYS)})")
            if key not in KEYS:
                raise SelectionError(f"--hosts-filter {text!r}: unknown key {key!r} (keys: {', '.join(KEYS)})")
            terms.append((key, pattern.strip()))
        return cls(text, tuple(terms))

    def matches(self, host: HostRecord) -> bool:
        return all(_term_matches(host, key, pattern) for key, pattern in self.terms)


def _term_matches(host: HostRecord, key: str, pattern: str) -> bool:
    if key == "tag":
        return any(fnmatch.fnmatchcase(tag, pattern) for tag in host.tags)
    value = {"dc": host.datacenter, "rack": host.rack, "cluster": host.cluster, "name": host.name}[key]
    return fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class Selection:
    """What the operator asked for: filters (any of) and a per-rack sample size (None: all)."""

    filters: tuple[HostFilter, ...] = ()
    sample: int | None = None

    @classmethod
    def from_options(cls, filters: Iterable[str] | None, sample: int | None) -> Selection:
        if sample is not None and sample < 1:
            raise SelectionError(f"--sample {sample}: give at least 1 host per rack")
        return cls(tuple(HostFilter.parse(f) for f in (filters or ())), sample)

    @property
    def narrowed(self) -> bool:
        return bool(self.filters) or self.sample is not None

    def hosts(self, hosts: Sequence[HostRecord]) -> list[HostRecord]:
        """The hosts this run checks, in the snapshot's order."""
        kept = [h for h in hosts if not self.filters or any(f.matches(h) for f in self.filters)]
        if self.sample is None:
            return kept
        by_rack: dict[str, list[HostRecord]] = {}
        for host in kept:
            by_rack.setdefault(host.rack, []).append(host)
        chosen = {h.name for rack in by_rack.values() for h in sorted(rack, key=_sample_rank)[: self.sample]}
        return [h for h in kept if h.name in chosen]

    def cassandra_nodes(self, nodes: Sequence[CassandraNode], hosts: Sequence[HostRecord]) -> list[CassandraNode]:
        """The ring's nodes whose VM runs on a host the filter keeps (all of them without a filter)."""
        if not self.filters:
            return list(nodes)
        names = {h.name for h in hosts if any(f.matches(h) for f in self.filters)}
        return [n for n in nodes if n.host in names]

    def summary(self, hosts: Sequence[HostRecord], nodes: Sequence[CassandraNode] = ()) -> dict[str, object]:
        """What the reports record: the request and how much of the fleet it covered."""
        selected = self.hosts(hosts)
        return {
            "narrowed": self.narrowed,
            "hosts_filter": [f.text for f in self.filters],
            "sample_per_rack": self.sample,
            "hosts_total": len(hosts),
            "hosts_selected": len(selected),
            "racks_selected": len({h.rack for h in selected}),
            "cassandra_nodes_total": len(nodes),
            "cassandra_nodes_selected": len(self.cassandra_nodes(nodes, hosts)),
        }


def scope_line(scope: Mapping[str, Any]) -> str:
    """One line for the terminal: what a narrowed run covered (never to be read as the whole fleet)."""
    asked = [f"--hosts-filter {f}" for f in scope.get("hosts_filter", [])]
    if scope.get("sample_per_rack") is not None:
        asked.append(f"--sample {scope['sample_per_rack']}")
    return (f"NARROWED RUN ({' '.join(asked)}): {scope.get('hosts_selected', 0)} of {scope.get('hosts_total', 0)} hosts "
            f"in {scope.get('racks_selected', 0)} rack(s), {scope.get('cassandra_nodes_selected', 0)} of "
            f"{scope.get('cassandra_nodes_total', 0)} Cassandra nodes")


def _sample_rank(host: HostRecord) -> str:
    return hashlib.sha256(f"cloudgate-sample:{host.name}".encode()).hexdigest()
