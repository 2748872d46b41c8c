"""`python -m cloudgate_lab.cloudstack serve ...`: run the simulator as its own process until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from pathlib import Path

from cloudgate_lab.topology import LabTopology

from .accounts import load_credentials
from .driver import GuestDriver, NullGuestDriver
from .server import start_in_thread


def _driver(spec: str, topology: LabTopology) -> GuestDriver:
    """`null`, or `module:factory` called as factory(topology) (e.g. the lab's real guest driver)."""
    if spec == "null":
        return NullGuestDriver()
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"--guest-driver must be 'null' or 'module:factory', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(topology)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudgate_lab.cloudstack",
                                     description="CloudStack API simulator of the cloudgate lab")
    sub = parser.add_subparsers(dest="action", required=True)
    serve = sub.add_parser("serve", help="serve the API on 127.0.0.1 until SIGTERM")
    serve.add_argument("--state-dir", required=True, type=Path, help="where cloudstack.sqlite and api.log live")
    serve.add_argument("--topology", required=True, type=Path, help="JSON written by LabTopology.to_json()")
    serve.add_argument("--port", type=int, default=None, help="default: the topology's api_port")
    serve.add_argument("--credentials", type=Path, default=None,
                       help="JSON {api_key, secret_key[, user: {api_key, secret_key}]}; created (0600) if "
                            "missing; default STATE_DIR/credentials.json")
    serve.add_argument("--guest-driver", default="null", help="'null' or 'module:factory' (factory(topology))")
    serve.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    topology = LabTopology.load(args.topology)
    credentials = load_credentials(args.credentials or args.state_dir / "credentials.json")
    port = args.port if args.port is not None else topology.api_port
    handle = start_in_thread(args.state_dir, topology, port, credentials, _driver(args.guest_driver, topology))
    logging.getLogger("cloudgate_lab.cloudstack").info("CloudStack simulator listening on %s", handle.endpoint)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
