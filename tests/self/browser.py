"""The operators' page in a real browser: Debian's headless Chromium, kept off every network.

Why a browser and not an HTML parser: the page is opened by people, from a mail attachment or a
CI artefact; what matters is that Chromium loads it with no console error, shows the verdict the
run's summary.json gives, and can draw it (the screenshot lands in the run's reports).

Chromium is told to resolve no host name and to send anything it would fetch to a dead loopback
port, and its background services (component updates, sync, safe browsing) are off: the page is
a file:// with everything embedded, and the machine's network rule allows loopback only.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OFFLINE = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-sync",
           "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
           "--disable-domain-reliability", "--dns-prefetch-disable", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0")
PAGE_ERRORS = ("CONSOLE(", "Failed to load resource", "net::ERR_", "Uncaught")


@dataclass
class Opened:
    dom: str
    console: list[str]  # the page's console and load errors (none expected)
    screenshot: Path


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError("headless Chromium is missing: `make test` installs Debian's chromium package")
    return found


def open_page(page: Path, screenshot: Path, timeout: float = 60.0) -> Opened:
    """Load `page` in headless Chromium: its DOM, its console errors, and a screenshot at `screenshot`."""
    url = page.resolve().as_uri()
    profile = screenshot.parent / ".chromium-profile"
    common = [chromium(), *OFFLINE, f"--user-data-dir={profile}"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=timeout, check=False)
    shot = subprocess.run([*common, f"--screenshot={screenshot}", "--window-size=1400,2000", url],
                          capture_output=True, text=True, timeout=timeout, check=False)
    shutil.rmtree(profile, ignore_errors=True)
    assert dom.returncode == 0 and shot.returncode == 0, (dom.stderr + shot.stderr)[-2000:]
    console = [line for line in (dom.stderr + shot.stderr).splitlines() if any(e in line for e in PAGE_ERRORS)]
    assert screenshot.exists() and screenshot.stat().st_size > 10_000, f"no screenshot at {screenshot}"
    return Opened(dom.stdout, console, screenshot)
