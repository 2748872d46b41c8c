"""Failover drills: Jepsen's split (history, client, nemesis, generator, checker)."""
