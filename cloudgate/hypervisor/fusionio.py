"""Parse `fio-status [-a]` (Fusion-io / SanDisk ioMemory VSL) into one record per flash card. Pure, no I/O.

The hypervisor checks read the driver version, firmware, media/reserve status, temperature and whether
the card is attached as a block device. Real output differs between VSL releases (2.x prints
"Fusion-io driver version:", "Attached as 'fioa'", "Media status:"; 3.x prints "Driver version:",
"Reserve space status:", a "Contained VSUs:" list and a separate `fioa  State: Online` block), and
lines come and go with `-a`. So the parser keys on the field names wherever they appear in a card's
block, ignores lines it does not know, and leaves a field None when the output does not say it,
rather than guessing — a check then reports "not reported" instead of a wrong value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DRIVER = re.compile(r"^(?:Fusion-io\s+)?driver version:\s*(.+?)\s*$", re.I | re.M)
_DRIVER_VERSION = re.compile(r"^v?(\d+(?:\.\d+)+)(?:\s+build\s+(\S+))?", re.I)
_CARD_HEAD = re.compile(r"^(fct\d+)\s+(.*?)\s*$")
_VSU_HEAD = re.compile(r"^(fio[a-z]+)\s+State:\s*([^,]+)", re.I)
_ATTACHED_AS = re.compile(r"Attached as\s+'?(\w+)'?", re.I)
_FIRMWARE = re.compile(r"Firmware\s+v?(\d+(?:\.\d+)+)(?:,\s*rev\s*(\w+))?", re.I)
_TEMPERATURE = re.compile(
    r"Internal temperature:\s*(?:avg\s*)?(-?[\d.]+)\s*deg\s*C(?:,\s*max\s*(-?[\d.]+)\s*deg\s*C)?", re.I)
_RESERVE = re.compile(
    r"(Media status|Reserve space status):\s*([^;\n]+?)\s*(?:;\s*Reserves:\s*([\d.]+)\s*%(?:,\s*warn at\s*([\d.]+)\s*%)?)?\s*$",
    re.I | re.M)
_CONTAINED_VSU = re.compile(r"^\s+(fio[a-z]+):\s*ID:", re.M)
_PRODUCT = re.compile(r"^\s+(.+?),\s*Product Number:\s*([\w-]+),\s*SN:\s*(\w+)", re.M)
_ADAPTER_MODULE = re.compile(r"^\s+(fct\d+):\s", re.M)
_NOT_LOADED = re.compile(r"driver (?:is )?not loaded", re.I)
_DEVICE_SIZE = re.compile(r"([\d.]+)\s*GBytes (?:block )?device size", re.I)
_SECTORS = re.compile(r"Format:.*?(\d+)\s+sectors of\s+(\d+)\s+bytes", re.I)


@dataclass
class FioCard:
    """One ioMemory device (fctN) as fio-status reports it."""

    device: str  # fct0
    status: str  # text after the device name: "Attached as 'fioa' (block device)", "Detached", ...
    driver_loaded: bool
    driver_version: str | None = None  # 3.2.16
    driver_build: str | None = None  # 1731
    firmware: str | None = None  # 7.1.17
    firmware_rev: str | None = None  # 116786
    media_status: str | None = None  # Healthy | Warning | Reduced-write | Read-only | ...
    reserve_percent: float | None = None
    reserve_warn_percent: float | None = None
    temperature_c: float | None = None
    temperature_max_c: float | None = None
    attached_as: str | None = None  # /dev/fioa
    product: str | None = None
    serial: str | None = None
    #: Formatted capacity in decimal GB (`fio-status -a`: "N GBytes device size", or the sector
    #: count); None when the output does not say (plain `fio-status`, or a detached card).
    capacity_gb: float | None = None

    @property
    def attached(self) -> bool:
        return self.attached_as is not None

    @property
    def healthy(self) -> bool:
        """Driver loaded, attached, media Healthy. (Temperature/reserve thresholds are the checks' call.)"""
        return self.driver_loaded and self.attached and (self.media_status or "").lower() == "healthy"


def _driver(text: str) -> tuple[bool, str | None, str | None]:
    m = _DRIVER.search(text)
    if m is None:
        return (not _NOT_LOADED.search(text)), None, None
    value = m.group(1)
    if _NOT_LOADED.search(value) or value.lower() in ("unknown", "n/a", "none"):
        return False, None, None
    v = _DRIVER_VERSION.match(value)
    return (True, v.group(1), v.group(2)) if v else (True, value, None)


def _blocks(text: str) -> tuple[dict[str, tuple[str, list[str]]], dict[str, list[str]]]:
    """Column-0 headers split the output: fctN blocks (cards) and fioX blocks (3.x VSUs)."""
    cards: dict[str, tuple[str, list[str]]] = {}
    vsus: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            card, vsu = _CARD_HEAD.match(line), _VSU_HEAD.match(line)
            if card:
                current = []
                cards[card.group(1)] = (card.group(2), current)
                continue
            if vsu:
                current = [line]
                vsus[vsu.group(1)] = current
                continue
            current = None  # "Adapter: ...", "Found ...", "Driver version: ..."
            continue
        if current is not None:
            current.append(line)
    return cards, vsus


def _float(s: str | None) -> float | None:
    return float(s) if s not in (None, "") else None


def _capacity(body: str) -> float | None:
    """Formatted capacity in GB: the sector count when printed (exact), else the GBytes figure."""
    if m := _SECTORS.search(body):
        return int(m.group(1)) * int(m.group(2)) / 1e9
    if m := _DEVICE_SIZE.search(body):
        return float(m.group(1))
    return None


def parse_fio_status(text: str) -> list[FioCard]:
    """All cards in a `fio-status` / `fio-status -a` output, in the order printed."""
    loaded, version, build = _driver(text)
    cards, vsus = _blocks(text)
    if not cards:  # driver not loaded on some releases: only the adapter's module list names the cards
        for name in dict.fromkeys(_ADAPTER_MODULE.findall(text)):
            cards[name] = ("Status unknown: Driver is not loaded" if not loaded else "unknown", [])
    out = []
    for name, (status, lines) in cards.items():
        body = "\n".join(lines)
        card_loaded = loaded and not _NOT_LOADED.search(status)
        card = FioCard(device=name, status=status, driver_loaded=card_loaded,
                       driver_version=version if card_loaded else None, driver_build=build if card_loaded else None)
        if m := _FIRMWARE.search(body):
            card.firmware, card.firmware_rev = m.group(1), m.group(2)
        if m := _TEMPERATURE.search(body):
            card.temperature_c, card.temperature_max_c = _float(m.group(1)), _float(m.group(2))
        reserves = {m.group(1).lower(): m for m in _RESERVE.finditer(body)}
        m = reserves.get("media status") or reserves.get("reserve space status")
        if m is not None:
            card.media_status = m.group(2).strip()
            card.reserve_percent, card.reserve_warn_percent = _float(m.group(3)), _float(m.group(4))
            other = reserves.get("reserve space status")
            if card.reserve_percent is None and other is not None:
                card.reserve_percent, card.reserve_warn_percent = _float(other.group(3)), _float(other.group(4))
        card.capacity_gb = _capacity(body)
        if m := _PRODUCT.search(body):
            card.product, card.serial = m.group(1).strip(), m.group(3)
        if card_loaded:
            if m := _ATTACHED_AS.search(status):
                card.attached_as = f"/dev/{m.group(1)}"
            elif status.lower().startswith("attached"):
                contained = _CONTAINED_VSU.findall(body)
                online = [v for v in contained if v in vsus and "online" in vsus[v][0].lower()]
                pick = online or contained
                if pick:
                    card.attached_as = f"/dev/{pick[0]}"
                    if card.capacity_gb is None and pick[0] in vsus:  # 3.x: the size is the VSU's
                        card.capacity_gb = _capacity("\n".join(vsus[pick[0]]))
        if "read-only" in status.lower() and card.media_status in (None, "Healthy"):
            card.media_status = "Read-only"
        out.append(card)
    return out
