"""The allocator on the real cloud: plan VMs onto the estate CloudStack reports, then deploy the plan.

`cloudgate place --target T --request R` reads the live estate (CloudStack for hosts, VMs and
groups; each hypervisor's `fio-status` over SSH for its flash card), resolves the request's service
offerings, runs the placement engine and writes a plan that says, per VM, host, rack and why.
`cloudgate deploy-plan PLAN --target T` re-reads the estate, refuses a plan the estate no longer
fits (naming the host), deploys each VM with `hostid` into its host anti-affinity group - tagged and
in a ledger, so an interrupted deploy is undone - and checks the result's dispersion.

This is the allocator the operators lacked when they placed their Cassandra VMs by hand. The
placement engine itself stays pure (cloudgate.placement); this package is its I/O.
"""
