"""The Cassandra tier: sessions as the applications build them, read-only guards, the native-port
probe, each node's view of its peers, the ring's replica sets and the write-latency probe.

Everything goes through the real cassandra-driver or the CQL native protocol; mapping nodes to VMs
and hosts is the estate snapshot's job (cloudgate.snapshot). Its checks are those declaring
`tier="cassandra"` (cloudgate.checkdecl), the failover drills among them.
"""
