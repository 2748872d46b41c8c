"""parse_fio_status on sample outputs: the lab's stand-in (VSL 3.x, -a and short) and VSL 2.x/3.x layouts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cloudgate.hypervisor.fusionio import FioCard, parse_fio_status

SAMPLES = Path(__file__).parent / "samples"


def one(name: str) -> FioCard:
    cards = parse_fio_status((SAMPLES / name).read_text())
    assert len(cards) == 1
    return cards[0]


def test_healthy() -> None:
    card = one("fio-status-a-healthy.txt")
    assert card.device == "fct0" and card.healthy and card.driver_loaded
    assert (card.driver_version, card.driver_build) == ("3.2.16", "1731")
    assert (card.firmware, card.firmware_rev) == ("7.1.17", "116786")
    assert card.media_status == "Healthy"
    assert (card.reserve_percent, card.reserve_warn_percent) == (100.0, 10.0)
    assert (card.temperature_c, card.temperature_max_c) == (45.0, 47.0)
    assert card.attached_as == "/dev/fioa"


def test_short_output_without_dash_a_gives_the_same_facts_but_the_capacity() -> None:
    short, full = one("fio-status-healthy-short.txt"), one("fio-status-a-healthy.txt")
    assert short == dataclasses.replace(full, capacity_gb=None)


def test_the_formatted_capacity_is_read_from_the_sector_count_or_the_device_size() -> None:
    assert one("fio-status-a-healthy.txt").capacity_gb == 2343750000 * 512 / 1e9
    assert one("fio-status-vsl3-attached-vsu.txt").capacity_gb == 1205.0  # printed in the VSU block
    a, b = parse_fio_status((SAMPLES / "fio-status-vsl2-two-cards.txt").read_text())
    assert (a.capacity_gb, b.capacity_gb) == (322.55, 322.55)


def test_degraded() -> None:
    card = one("fio-status-a-degraded.txt")
    assert card.media_status == "Read-only" and not card.healthy and card.attached


def test_hot() -> None:
    card = one("fio-status-a-hot.txt")
    assert card.temperature_c == 85.0 and card.temperature_max_c == 86.5 and card.healthy


def test_low_reserve() -> None:
    card = one("fio-status-a-low-reserve.txt")
    assert card.reserve_percent == 5.0 and card.media_status == "Warning"


def test_driver_not_loaded() -> None:
    card = one("fio-status-a-driver-not-loaded.txt")
    assert not card.driver_loaded and not card.attached and not card.healthy
    assert card.driver_version is None and card.temperature_c is None
    assert card.firmware == "7.1.17"  # still read from the card's EEPROM by the tool


def test_vsl2_two_cards() -> None:
    a, b = parse_fio_status((SAMPLES / "fio-status-vsl2-two-cards.txt").read_text())
    assert (a.device, a.attached_as, b.device, b.attached_as) == ("fct0", "/dev/fioa", "fct1", "/dev/fiob")
    assert a.driver_version == "2.3.10" and a.firmware == "5.0.7" and a.temperature_c == 48.2 and a.healthy
    assert b.media_status == "Reduced-write" and b.reserve_percent == 2.1 and b.temperature_max_c == 81.0


def test_vsl3_attached_through_contained_vsu() -> None:
    card = one("fio-status-vsl3-attached-vsu.txt")
    assert card.status == "Attached" and card.attached_as == "/dev/fioa" and card.temperature_c == 51.68


@pytest.mark.parametrize("text", ["", "bash: fio-status: command not found\n",
                                  "fio-status requires the driver to be loaded on this platform.\n"])
def test_nothing_to_report(text: str) -> None:
    assert parse_fio_status(text) == []


def test_driver_not_loaded_with_only_the_adapter_listing() -> None:
    text = ("Found 1 ioMemory device in this system\nDriver version: Driver not loaded\n\n"
            "Adapter: Single Controller Adapter\n\tConnected ioMemory modules:\n\t  fct0:\tProduct Number:X, SN:1\n")
    (card,) = parse_fio_status(text)
    assert card.device == "fct0" and not card.driver_loaded and not card.healthy
