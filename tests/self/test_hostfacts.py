"""Parsers of host output, on real-format samples."""

from cloudgate.ssh.facts import chrony_tracking, os_release

CHRONY_SYNCED = """Reference ID    : C6120101 (198.18.1.1)
Stratum         : 3
Ref time (UTC)  : Thu Nov 26 17:00:00 2026
System time     : 0.000012000 seconds slow of NTP time
Last offset     : +0.000001000 seconds
Leap status     : Normal
"""


def test_os_release_reads_quoted_values():
    assert os_release('NAME="XCP-ng"\nID="xenenterprise"\nVERSION_ID="8.2.1"\n# c\n') == {
        "NAME": "XCP-ng", "ID": "xenenterprise", "VERSION_ID": "8.2.1",
    }


def test_chrony_tracking_gives_leap_status_and_signed_offset():
    t = chrony_tracking(CHRONY_SYNCED)
    assert t.leap_status == "Normal" and abs(t.offset_ms + 0.012) < 1e-9


def test_chrony_without_system_time_has_no_offset():
    t = chrony_tracking("Leap status     : Not synchronised\n")
    assert t.leap_status == "Not synchronised" and t.offset_ms != t.offset_ms
