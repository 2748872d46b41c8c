"""FT-09's readings: Apache's mod_status ?auto and PHP-FPM's status page parsed, and saturation judged.

The fixtures are written in the formats of mod_status.c (2.4, with the event MPM's lines and
2.4.63's ConnsAsyncWaitIO) and of PHP 8.2's fpm_status.c (plain, ?json and ?full).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudgate.frontends.webstatus import (
    StatusPageError,
    apache_saturation,
    fpm_saturation,
    parse_apache_status,
    parse_fpm_status,
    same_fpm_lifetime,
)

DATA = Path(__file__).parent / "data" / "web"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_an_event_mpm_status_page_is_read_key_by_key_with_its_scoreboard_counted():
    status = parse_apache_status(_read("apache_auto_event.txt"))
    assert (status.server_name, status.server_version, status.server_mpm) == (
        "web-dc1-1", "Apache/2.4.71 (Debian)", "event")
    assert (status.busy_workers, status.idle_workers, status.graceful_workers) == (1, 49, 0)
    assert (status.total_accesses, status.processes, status.stopping, status.conns_total) == (48213, 2, 0, 1)
    assert (status.config_generation, status.uptime_seconds) == (1, 7941)
    assert len(status.scoreboard) == 150
    assert status.scoreboard_counts == {"_": 49, "W": 1, ".": 100}
    assert status.open_slots == 100
    assert status.fields["ConnsAsyncWaitIO"] == "0"  # 2.4.63's line, kept with the others
    assert status.fields["CurrentTime"] == "Monday, 07-Dec-2026 10:15:02 UTC"  # colons in the value


def test_a_status_page_without_the_optional_lines_is_still_read():
    minimal = "BusyWorkers: 3\nIdleWorkers: 7\nScoreboard: W_W_W_____\n"  # prefork, ExtendedStatus Off
    status = parse_apache_status(minimal)
    assert (status.busy_workers, status.idle_workers) == (3, 7)
    assert status.server_name is None and status.processes is None and status.total_accesses is None
    assert status.scoreboard_counts == {"W": 3, "_": 7}


@pytest.mark.parametrize(("page", "says"), [
    ("apache_403.html", "not a mod_status ?auto page: an HTML page titled '403 Forbidden' (the status page refuses"),
    ("apache_status.html", "an HTML page titled 'Apache Status' (the HTML status page: ask for ?auto)"),
    ("fpm_status.txt", "no BusyWorkers or IdleWorkers line (it starts 'pool:"),
])
def test_a_page_that_is_not_the_auto_status_is_refused_in_one_line_naming_what_it_is(page, says):
    with pytest.raises(StatusPageError) as caught:
        parse_apache_status(_read(page))
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_empty_answer_or_a_garbled_number_is_refused_in_one_line():
    with pytest.raises(StatusPageError, match="the answer is empty"):
        parse_apache_status("  \n")
    with pytest.raises(StatusPageError, match="BusyWorkers is not a number: 'many'"):
        parse_apache_status("BusyWorkers: many\nIdleWorkers: 1\n")


def test_apache_with_every_worker_busy_and_no_slot_left_is_named_as_at_max_request_workers():
    status = parse_apache_status(_read("apache_auto_saturated.txt"))
    assert apache_saturation(status, 0.8) == [
        "Apache on web-dc1-2: 4 of 4 workers busy (MaxRequestWorkers reached?)"]
    assert apache_saturation(status, 0.8, node="10.1.1.12") == [
        "Apache on 10.1.1.12: 4 of 4 workers busy (MaxRequestWorkers reached?)"]


def test_apache_busy_above_the_ratio_is_named_and_an_idle_apache_is_not():
    healthy = parse_apache_status(_read("apache_auto_event.txt"))
    assert apache_saturation(healthy, 0.8) == []
    busy = dataclasses.replace(healthy, busy_workers=41, idle_workers=9)
    assert apache_saturation(busy, 0.8) == [
        "Apache on web-dc1-1: 41 of 50 workers busy (82%, limit 80%): close to MaxRequestWorkers"]
    at_limit = dataclasses.replace(healthy, busy_workers=40, idle_workers=10)
    assert apache_saturation(at_limit, 0.8) != []  # the ratio is a ceiling: reaching it is a problem


def test_no_idle_worker_with_open_slots_left_is_a_problem_that_does_not_blame_max_request_workers():
    status = parse_apache_status(_read("apache_auto_event.txt"))
    no_idle = dataclasses.replace(status, busy_workers=50, idle_workers=0)
    [line] = apache_saturation(no_idle, 0.8)
    assert "50 of 50 workers busy, none idle (100 open slots left" in line
    assert "MaxRequestWorkers reached" not in line


def test_fpm_status_reads_the_same_in_plain_and_json_forms():
    plain = parse_fpm_status(_read("fpm_status.txt"))
    as_json = parse_fpm_status(_read("fpm_status.json"))
    assert plain == as_json
    assert (plain.pool, plain.process_manager, plain.accepted_conn) == ("www", "dynamic", 16071)
    assert (plain.listen_queue, plain.max_listen_queue, plain.listen_queue_len) == (0, 1, 511)
    assert (plain.idle_processes, plain.active_processes, plain.total_processes) == (1, 1, 2)
    assert (plain.max_active_processes, plain.max_children_reached, plain.slow_requests) == (3, 0, 0)
    assert plain.start_time == datetime(2026, 12, 7, 8, 2, 41, tzinfo=UTC)
    assert plain.start_since == 7941
    assert plain.listen_queue_measured


def test_fpm_full_status_is_read_for_the_pool_only_and_its_local_start_time_becomes_utc():
    status = parse_fpm_status(_read("fpm_status_full.txt"))
    # the per-process blocks repeat `start time` and `start since`: the pool's are kept
    assert status.start_time == datetime(2026, 12, 7, 8, 2, 41, tzinfo=UTC)  # 09:02:41 +0100
    assert (status.process_manager, status.accepted_conn, status.total_processes) == ("static", 16071, 2)
    assert not status.listen_queue_measured  # a Unix-socket pool: FPM cannot see its queue


@pytest.mark.parametrize(("text", "says"), [
    ("File not found.\n", "not a PHP-FPM status page: it starts 'File not found.' (pm.status_path not set"),
    (_read("apache_403.html"), "not a PHP-FPM status page: an HTML page titled '403 Forbidden'"),
    ('{"pool":"www"', "PHP-FPM ?json status is not valid JSON"),
    ("pool: www\naccepted conn: 3\n", "PHP-FPM status page without 'start since', 'listen queue'"),
    ("", "not a PHP-FPM status page: the answer is empty"),
])
def test_a_page_that_is_not_fpm_status_is_refused_in_one_line(text, says):
    with pytest.raises(StatusPageError) as caught:
        parse_fpm_status(text)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_fpm_pool_that_queued_hit_max_children_and_ran_slow_requests_is_named_three_times():
    before = parse_fpm_status(_read("fpm_status.json"))
    after = parse_fpm_status(_read("fpm_status_saturated.json"))
    assert same_fpm_lifetime(before, after)
    assert fpm_saturation(before, after, node="web-dc1-1") == [
        "PHP-FPM pool www on web-dc1-1: 7 requests waiting in the listen queue (5 of 5 processes active, "
        "max 12 since start): pm.max_children reached?",
        "PHP-FPM pool www on web-dc1-1: max children reached 3 more times (0 -> 3): "
        "pm.max_children too low for the load?",
        "PHP-FPM pool www on web-dc1-1: 2 slow requests (0 -> 2): longer than request_slowlog_timeout, "
        "see the pool's slowlog",
    ]


def test_a_quiet_fpm_pool_has_no_problem():
    before = parse_fpm_status(_read("fpm_status.txt"))
    later = dataclasses.replace(before, start_since=before.start_since + 60, accepted_conn=before.accepted_conn + 3000)
    assert fpm_saturation(before, later) == []


def test_fpm_restarted_between_two_readings_says_its_counters_were_reset_instead_of_a_delta():
    before = parse_fpm_status(_read("fpm_status_saturated.json"))
    after = parse_fpm_status(_read("fpm_status_restarted.json"))
    assert not same_fpm_lifetime(before, after)
    assert fpm_saturation(before, after) == [
        "PHP-FPM pool www: FPM restarted between the two readings (started 2026-12-07 08:02:41 UTC, then "
        "started 2026-12-07 10:14:55 UTC): its counters were reset, so the window cannot be judged; "
        "since the restart: max children reached 0, slow requests 0"]


def test_without_a_start_time_a_restart_is_seen_from_start_since_or_counters_going_back():
    before = dataclasses.replace(parse_fpm_status(_read("fpm_status_saturated.json")), start_time=None)
    went_back = dataclasses.replace(before, start_since=before.start_since + 30, accepted_conn=12)
    younger = dataclasses.replace(before, start_since=5)
    moved_on = dataclasses.replace(before, start_since=before.start_since + 30, slow_requests=5)
    assert not same_fpm_lifetime(before, went_back)
    assert not same_fpm_lifetime(before, younger)
    assert same_fpm_lifetime(before, moved_on)
    [_queue, slow] = fpm_saturation(before, moved_on)
    assert "3 slow requests (2 -> 5)" in slow
