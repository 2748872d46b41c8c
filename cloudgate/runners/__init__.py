"""Several runner machines for one run: `cloudgate run --runners FILE`.

When one machine cannot check the whole estate in time, pytest-xdist's remote workers spread the
run over runner machines reached by SSH (`--tx N*ssh=...`). The parts, one job each:
- model:     the runners file (YAML, strict, one-line errors with file:line);
- preflight: every runner reached once over SSH before the run, in parallel and bounded in time;
             one line per runner that cannot take part, naming it and the cause;
- txspec:    the generated ssh_config per runner and the `--tx` specs xdist is given;
- session:   the pytest plugin of such a run (secrets to the workers over the SSH channel, never on
             a command line or in a file; the runners' summary in summary.json; every collected
             check that never reported counted as not run);
- run:       the whole command, from the file to pytest's exit status.
The share of a runner that could not be reached, or was lost mid-run, is reported *not run* by the
plugin's scheduler (cloudgate.plugin.shards, `--absent-shares`), never passed.
Nothing here imports the lab: the lab's runner namespaces are one more place this runs against.
"""
