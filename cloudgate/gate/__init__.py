"""The upgrade gate, after OpenStack Grenade: what existed before a CloudStack upgrade still exists and
works after it, and taking the control plane down did not take the workloads down.

- state:    reports/gate-<target>/gate.json, what `before` left for `during` and `after`;
- canaries: the resources `before` creates (in the ledger), verified with and without the API;
- verdict:  GO / NO-GO, a pure function of the before and after runs and the canaries' findings;
- flow:     `cloudgate gate before | during | after | destroy`, the suite run as a subprocess.
"""
