"""The CloudStack tier: the API client (read-only unless a destructive check asks), deploying probe
VMs, CloudStack versions, and the operators' own commands for the management server.

The checks are tests/infra/test_cloudstack.py, test_deploy_time.py and
test_anti_affinity_under_concurrency.py; the estate snapshot reads the cloud through the client.
"""
