"""The cloudgate pytest plugin, registered through the `pytest11` entry point.

`pytest --help` shows its options wherever the package is installed. It is split by job, each
part a plugin of its own that pytest registers from the list below:
- options:  --target, --profile, destructive gating, timeouts, measurements alone under xdist;
- outcomes: one-line errors, waivers, passed / failed / error / waived / not applicable / not run;
- reports:  reports/<run-id>/ (junit, HTML, metrics, summary, estate provenance), reports/latest;
- fixtures: the estate snapshot, the CloudStack client, SSH handles, figures;
- front:    the front tier's datacenters and haproxy nodes as parameters, their facts, the front-door load;
- cleanup:  the run ledger's safety net (undo at session end what this process left pending);
- shards:   under xdist, each host's checks on one worker; a lost worker's checks not run;
- shutdown: a Ctrl-C while the reports are written is deferred: they are finished, then exit 2.
The parts share only cloudgate.plugin.state, never each other.
Every pytest process loads them, so each imports heavy libraries (driver, SSH, HTTP, pydantic) lazily.
"""

pytest_plugins = [
    "cloudgate.plugin.options",
    "cloudgate.plugin.outcomes",
    "cloudgate.plugin.reports",
    "cloudgate.plugin.fixtures",
    "cloudgate.plugin.front",
    "cloudgate.plugin.cleanup",
    "cloudgate.plugin.shards",
    "cloudgate.plugin.shutdown",
]
