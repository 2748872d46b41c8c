"""haproxy's runtime answers read by field name, on real 2.6.12 answers (data/haproxy/RECORDING.md)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudgate.frontends.haproxystat import (
    AdminState,
    RuntimeAnswerError,
    ShowInfo,
    parse_show_info,
    parse_show_servers_state,
    parse_show_stat,
)

DATA = Path(__file__).parent / "data" / "haproxy"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def _by_name(text: str) -> dict:
    return {row.name: row for row in parse_show_stat(text)}


def test_every_server_of_the_recorded_answer_is_read_by_name_with_its_state():
    rows = _by_name(_read("show_stat.csv"))
    assert [r.kind for r in rows.values()].count("server") == 11
    assert rows["fe_web/FRONTEND"].kind == "frontend" and rows["be_php/BACKEND"].kind == "backend"

    web1 = rows["be_php/web1"]
    assert (web1.status, web1.check_status, web1.check_code, web1.weight, web1.addr, web1.ip) == (
        "UP", "L7OK", 200, 1, "127.0.0.11:8001", "127.0.0.11")
    assert (web1.lbtot, web1.hrsp_2xx, web1.hrsp_5xx, web1.check_rise, web1.check_fall, web1.check_health) == (
        3, 3, 0, 2, 3, 4)
    assert web1.is_up and web1.is_fully_up and not web1.is_backup and web1.check_layer == 7
    assert rows["be_php/web2"].weight == 2 and rows["be_php/web2"].lbtot == 6

    web3 = rows["be_php/web3"]
    assert (web3.status_word, web3.check_status, web3.chkdown, web3.last_chk) == (
        "DOWN", "L4CON", 1, "Connection refused")
    assert not web3.is_up and web3.check_layer == 4
    assert rows["be_php/web5"].check_status == "L7STS" and rows["be_php/web5"].check_code == 404

    web4 = rows["be_php/web4"]
    assert web4.in_maint and web4.check_status is None and web4.check_code is None  # checks paused
    assert rows["be_php/web6"].is_draining and not rows["be_php/web6"].is_up
    assert rows["be_php/web7"].is_backup and rows["be_php/web7"].bck == 1

    flap, rising = rows["be_php/flap"], rows["be_php/rising"]
    assert flap.status == "UP 44/50" and flap.is_up and not flap.is_fully_up and flap.is_transitioning
    assert flap.transition == (44, 50) and flap.failed_checks_in_a_row == 6
    assert rising.status_word == "DOWN" and rising.transition == (5, 50) and not rising.is_up
    assert rising.failed_checks_in_a_row is None

    assert rows["be_tcp/tcp1"].check_status == "L4OK" and rows["be_tcp/tcp1"].check_layer == 4
    nochk = rows["be_tcp/nochk"]
    assert nochk.status_word == "no check" and nochk.check_status is None and nochk.chkdown is None


def test_fields_are_found_by_name_whatever_their_order_and_missing_ones_read_as_none():
    # an older haproxy: no addr, no check_rise…; columns in another order
    text = ("# svname,status,pxname,type,weight,bck,check_status\n"
            "web1,UP,be,2,1,0,L7OK\n"
            "BACKEND,UP,be,1,1,0,\n")
    web1, backend = parse_show_stat(text)
    assert (web1.pxname, web1.svname, web1.status, web1.check_status) == ("be", "web1", "UP", "L7OK")
    assert web1.addr is None and web1.ip is None and web1.check_rise is None and web1.hrsp_5xx is None
    assert backend.kind == "backend" and backend.check_status is None
    assert web1.get("agg_server_status") is None and web1.get("weight") == "1"


def test_a_check_in_progress_is_flagged_and_its_star_stripped():
    text = "# pxname,svname,type,status,check_status\nbe,web1,2,UP,* L7OK\nbe,web2,2,UP,L7OK\n"
    web1, web2 = parse_show_stat(text)
    assert (web1.check_status, web1.check_running) == ("L7OK", True)
    assert (web2.check_status, web2.check_running) == ("L7OK", False)


def test_a_quoted_field_with_a_comma_is_read_as_one_field():
    text = '# pxname,svname,type,status,last_chk,weight\nbe,web1,2,DOWN,"HTTP ""503"", retry",1\n'
    (row,) = parse_show_stat(text)
    assert row.last_chk == 'HTTP "503", retry' and row.weight == 1


@pytest.mark.parametrize("answer, quoted", [
    (_read("unknown_command.txt"), "'Unknown command, but maybe one of the following ones is a better match:'"),
    (_read("permission_denied.txt"), "'Permission denied'"),
    ("", "nothing"),
    ("\n\n", "nothing"),
])
def test_an_error_answer_raises_one_line_quoting_what_haproxy_said(answer, quoted):
    with pytest.raises(RuntimeAnswerError) as caught:
        parse_show_stat(answer)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"haproxy answered {quoted} to `show stat`")
    with pytest.raises(RuntimeAnswerError):
        parse_show_info(answer)
    with pytest.raises(RuntimeAnswerError):
        parse_show_servers_state(answer)


def test_a_garbled_number_or_a_header_without_names_is_not_taken_for_a_table():
    with pytest.raises(RuntimeAnswerError, match="field weight is 'x1', not a number"):
        parse_show_stat("# pxname,svname,weight\nbe,web1,x1\n")
    with pytest.raises(RuntimeAnswerError, match="names no pxname"):
        parse_show_stat("# a,b,c\n1,2,3\n")


def test_show_info_gives_pid_uptime_version_and_tells_a_reload_from_the_same_process():
    before, after = ShowInfo.parse(_read("show_info.txt")), ShowInfo.parse(_read("show_info_after_reload.txt"))
    assert (before.pid, before.uptime_sec, before.version) == (307, 3, "2.6.12-1+deb12u4")
    assert after.pid == 526 and after.uptime_sec == 1
    assert before.fields["Unstoppable Jobs"] == "1" and before.fields["Build info"] == "2.6.12-1+deb12u4"
    assert before.same_process(before) and not before.same_process(after)
    # the same Pid whose uptime went back is a new process that reused the Pid
    reused = ShowInfo.parse("Name: HAProxy\nPid: 307\nUptime_sec: 1\n")
    assert not before.same_process(reused)
    assert parse_show_info(_read("show_info.txt"))["Nbthread"] == "2"


def test_show_servers_state_decodes_the_admin_bits_and_the_operational_state():
    states = {s.name: s for s in parse_show_servers_state(_read("show_servers_state.txt"))}
    assert len(states) == 11
    web4, web6, web3 = states["be_php/web4"], states["be_php/web6"], states["be_php/web3"]
    assert web4.admin_state == AdminState.FMAINT and web4.admin_state.in_maint and web4.op_state_name == "stopped"
    assert web6.admin_state == AdminState.FDRAIN and web6.admin_state.draining and not web6.admin_state.in_maint
    assert web6.op_state_name == "running"
    assert (web3.check_status_name, web3.port, web3.srv_addr) == ("L4CON", 8003, "127.0.0.13")
    assert states["be_php/web2"].uweight == 2 and states["be_tcp/nochk"].check_status_name == "INI"
    # `disabled` in haproxy.cfg sets CMAINT with FMAINT; a failed resolution sets RMAINT
    assert AdminState(0x05).in_maint and AdminState(0x20).in_maint and not AdminState(0x10).in_maint
    assert AdminState(0x10).draining


def test_show_servers_state_refuses_another_format_version():
    with pytest.raises(RuntimeAnswerError, match="not format version 1"):
        parse_show_servers_state("2\n# be_id be_name\n")


_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12)
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
_COLUMNS = ["pxname", "svname", "type", "status", "weight", "hrsp_5xx", "check_status", "last_chk"]
_ROW = st.fixed_dictionaries({
    "pxname": _NAME, "svname": _NAME, "type": st.sampled_from(["0", "1", "2", "3"]),
    "status": st.sampled_from(["UP", "DOWN", "MAINT", "UP 1/3", "DOWN 1/2", "no check", "DRAIN", "NOLB"]),
    "weight": st.one_of(st.just(""), st.integers(0, 256).map(str)),
    "hrsp_5xx": st.one_of(st.just(""), st.integers(0, 10**12).map(str)),
    "check_status": st.sampled_from(["", "L7OK", "* L7OK", "L4OK", "L4CON", "* L4TOUT"]),
    "last_chk": _TEXT,
})


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(_ROW, max_size=6), order=st.permutations(_COLUMNS))
def test_a_written_table_reads_back_the_same_whatever_the_column_order(rows, order):
    out = io.StringIO()
    out.write("# " + ",".join(order) + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row[name] for name in order])
    parsed = parse_show_stat(out.getvalue())
    assert len(parsed) == len(rows)
    for row, read in zip(rows, parsed, strict=True):
        assert (read.pxname, read.svname, read.type, read.status) == (
            row["pxname"], row["svname"], int(row["type"]), row["status"])
        assert read.weight == (int(row["weight"]) if row["weight"] else None)
        assert read.hrsp_5xx == (int(row["hrsp_5xx"]) if row["hrsp_5xx"] else None)
        assert read.check_running == row["check_status"].startswith("* ")
        assert read.check_status == (row["check_status"].removeprefix("* ") or None)
        assert read.last_chk == (row["last_chk"] or None)
