"""The simulator runs as its own process, as `cloudgate lab up` starts it, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from cs import CloudStack

from cloudgate_lab.topology import LabTopology

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_process_answers_signed_calls_with_its_generated_credentials_and_stops_on_sigterm(
        tmp_path: Path, topology: LabTopology) -> None:
    topo_file = tmp_path / "topology.json"
    topo_file.write_text(topology.to_json())
    creds_file = tmp_path / "credentials.json"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudgate_lab.cloudstack", "serve", "--state-dir", str(tmp_path / "state"),
         "--topology", str(topo_file), "--port", str(port), "--credentials", str(creds_file)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{port}/client/api"
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "simulator did not start listening"
                time.sleep(0.1)
        creds = json.loads(creds_file.read_text())
        assert creds_file.stat().st_mode & 0o777 == 0o600
        client = CloudStack(endpoint=endpoint, key=creds["api_key"], secret=creds["secret_key"])
        assert client.listZones()["count"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert (tmp_path / "state" / "cloudstack.sqlite").exists()
