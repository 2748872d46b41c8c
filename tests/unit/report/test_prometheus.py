"""The run in Prometheus' text format for node_exporter's textfile collector, parsed back with the
library's own parser: what a Grafana panel of the nightly would read."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from test_page import failing, healthy_results, make_run, metric

from cloudgate.report.prometheus import write_prometheus


def _samples(path) -> dict[tuple[str, tuple], float]:  # noqa: ANN001
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _key(name: str, **labels: str) -> tuple[str, tuple]:
    return name, tuple(sorted({"target": "preprod", "profile": "nightly", **labels}.items()))


def test_a_night_that_cannot_deploy_exports_the_control_plane_down_and_its_check_failing(tmp_path):
    results = failing(healthy_results(), "test_deploy_time", message="no capacity")
    run_dir = make_run(tmp_path, results, metrics=[metric("deploy.total.p95", 41.0, 300.0, "pass", unit="s")])
    own = write_prometheus(run_dir, tmp_path)
    samples = _samples(own)
    assert samples[_key("cloudgate_area_ok", area="control_plane")] == 0.0
    assert samples[_key("cloudgate_area_ok", area="data_plane")] == 1.0
    assert samples[_key("cloudgate_check_ok", check_id="CG-DEPLOY-001")] == 0.0
    assert samples[_key("cloudgate_check_ok", check_id="CG-FIO-003")] == 1.0
    assert samples[_key("cloudgate_metric", metric="deploy.total.p95", unit="s")] == 41.0
    assert samples[_key("cloudgate_metric_threshold", metric="deploy.total.p95", unit="s")] == 300.0
    assert samples[_key("cloudgate_run_exit_status")] == 0.0
    collector = tmp_path / "prometheus" / "cloudgate-preprod-nightly.prom"
    assert collector.read_text() == own.read_text(), "the textfile collector's copy is the run's"
    assert not [p for p in collector.parent.iterdir() if p.name.startswith(".")], "written whole, then renamed"


def test_an_area_that_did_not_run_is_absent_rather_than_reported_healthy(tmp_path):
    results = {n: ("not_run", *r[1:3], "not run: needs --allow-destructive") if "deploy" in n else r
               for n, r in healthy_results().items() if "test_cloudstack" not in n}
    samples = _samples(write_prometheus(make_run(tmp_path, results), tmp_path))
    assert _key("cloudgate_area_ok", area="control_plane") not in samples
