"""The CloudStack tier: the API client (read-only unless a destructive check asks), deploying probe
VMs, CloudStack versions, and the operators' own commands for the management server.

Its checks are those declaring `tier="cloudstack"` (cloudgate.checkdecl), wherever they live in
tests/infra; the estate snapshot reads the cloud through the client.
"""
