"""The level-1 runbooks: one per check of tests/infra, complete, safe, and the same in docs/runbook.md.

A check without a runbook leaves the on-call with a failure message and nothing to do: these guards
fail `make test` (tests/unit is part of it) until the catalogue, cloudgate/runbooks.yaml, has its
entry. They parse tests/infra (never import it) and need no lab.
"""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from cloudgate.runbook import (
    GROUPS,
    ROLES,
    RUNBOOKS_FILE,
    Runbook,
    RunbookError,
    check_refs,
    closest,
    explain,
    load_runbooks,
    markdown,
)

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests" / "infra"
DOC = REPO / "docs" / "runbook.md"
REGENERATE = ".venv/bin/cloudgate explain --markdown > docs/runbook.md"

# Commands a level 1 must never be told to run: a step whose code names one must say not to.
HARMFUL = re.compile(r"(?i)(\breboot\b|restart|shutdown|systemctl (stop|kill)|\bkill\b|removenode|decommission|"
                     r"\brepair\b|\brebuild\b|assassinate|fio-(format|detach|attach|update-iodrive)|modprobe|rmmod|"
                     r"makestep|date -s|\brm\s|\bdrop\s|truncate|destroy|delete|expunge|--force|forced=true)")
NEGATION = re.compile(r"(?i)\b(do not|never)\b")


# --------------------------------------------------------------------------- in step with the suite
def test_the_parser_sees_every_check_marker_of_the_suite() -> None:
    source = "".join(p.read_text() for p in SUITE.glob("test_*.py"))
    assert len(check_refs(SUITE)) == source.count("@pytest.mark.check("), "a check marker the parser missed"


def test_every_check_of_the_suite_has_a_runbook() -> None:
    missing = sorted(set(check_refs(SUITE)) - set(load_runbooks()))
    assert not missing, (f"checks without a level-1 runbook: {missing}; add an entry to {RUNBOOKS_FILE.name} "
                         f"(title, means, first_actions, escalate_when, escalate_to), then `{REGENERATE}`")


def test_the_catalogue_has_no_runbook_for_a_check_that_does_not_exist() -> None:
    orphans = sorted(set(load_runbooks()) - set(check_refs(SUITE)))
    assert not orphans, f"runbooks for no check of tests/infra (renamed or removed?): {orphans}"


def test_every_check_id_belongs_to_a_group_of_the_document() -> None:
    assert not [c for c in load_runbooks() if not c.startswith(tuple(p for p, _ in GROUPS))]


# --------------------------------------------------------------------------- complete and safe
def test_every_runbook_says_what_it_means_what_to_do_first_and_whom_to_call() -> None:
    for cid, book in load_runbooks().items():
        assert book.title and book.means and book.escalate_when, cid
        assert 2 <= len(book.first_actions) <= 5 and all(step.strip() for step in book.first_actions), cid
        assert book.escalate_to in ROLES, cid


def test_every_role_of_the_vocabulary_is_used_and_every_role_named_is_one() -> None:
    used = {role for book in load_runbooks().values() for role in book.roles}
    assert used == set(ROLES), f"roles no runbook names: {sorted(set(ROLES) - used)}"


def test_no_first_action_tells_a_level_1_to_run_a_harmful_command() -> None:
    told = [f"{cid}: {span}" for cid, book in load_runbooks().items() for step in book.first_actions
            for span in re.findall(r"`([^`]*)`", step) if HARMFUL.search(span) and not NEGATION.search(step)]
    assert not told, f"steps naming a harmful command without saying not to run it: {told}"


def test_the_catalogue_ships_as_package_data() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]
    assert any(fnmatch(RUNBOOKS_FILE.name, p) for p in data.get("*", []) + data.get("cloudgate", []))
    assert RUNBOOKS_FILE.parent == REPO / "cloudgate"


# --------------------------------------------------------------------------- a bad catalogue is one line
@pytest.mark.parametrize(("text", "shows"), [
    ("CG-FOO:\n  title: x\n", "1: CG-FOO: not a check id"),
    ("CG-FIO-002:\n  title: t\n  means: m\n  first_actions: [a, b]\n  escalate_when: now\n  escalate_to: dba\n",
     "6: CG-FIO-002.escalate_to: 'dba' is not a role"),
    ("CG-FIO-002:\n  title: t\n  means: m\n  first_actions: [a, b]\n  escalate_when: now\n"
     "  escalate_to: network\n  owner: me\n", "7: CG-FIO-002.owner: unknown key"),
    ("CG-FIO-002:\n  title: t\n  means: ' '\n  first_actions: [a, b]\n  escalate_when: now\n  escalate_to: network\n",
     "3: CG-FIO-002.means: must not be empty"),
    ("CG-FIO-002:\n  title: t\n  means: m\n  first_actions: [a]\n  escalate_when: now\n  escalate_to: network\n",
     "4: CG-FIO-002.first_actions: "),
    ("CG-FIO-002: {}\nCG-FIO-002: {}\n", "2: CG-FIO-002: key 'CG-FIO-002' is given twice"),
    ("- CG-FIO-002\n", "1: the runbook catalogue must be a mapping"),
    ("CG-FIO-002:\n  title: t\n  means: m\n  first_actions: [a, b]\n  escalate_when: and `oncall` too\n"
     "  escalate_to: network\n", "5: CG-FIO-002.escalate_when: names `oncall`, which is not a role"),
], ids=["bad-id", "unknown-role", "unknown-key", "blank-text", "one-action", "duplicate", "a-list", "role-named"])
def test_a_bad_catalogue_is_refused_in_one_line_naming_file_line_and_field(tmp_path: Path, text: str,
                                                                          shows: str) -> None:
    path = tmp_path / "runbooks.yaml"
    path.write_text(text)
    with pytest.raises(RunbookError) as info:
        load_runbooks(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}:{shows}"), str(info.value)


# --------------------------------------------------------------------------- explain
def test_explain_gives_what_it_means_the_steps_and_the_role_with_its_contact() -> None:
    refs = check_refs(SUITE)
    text = explain("CG-FIO-002", {"storage-flash": "#storage-oncall (Slack)"}, ref=refs["CG-FIO-002"])
    assert text.startswith("CG-FIO-002 · critical · ")
    assert "check: tests/infra/test_hypervisors.py::test_fusionio_card_is_healthy" in text
    assert "What it means" in text and "  1. " in text and "`fio-status -a`" in text
    assert "  to:   storage-flash: #storage-oncall (Slack)" in text


def test_explain_names_the_role_alone_when_the_target_has_no_contact_for_it() -> None:
    text = explain("CG-CASS-006", {})
    assert "to:   cassandra-dba (no contact in the target file's escalation section)" in text
    assert "also: on-call-manager (no contact in the target file's escalation section)" in text  # named in `when`
    assert "give --target FILE" in explain("CG-CASS-006", None)


def test_explain_takes_an_id_as_an_operator_types_it() -> None:
    assert explain("cg-fio-002").startswith("CG-FIO-002") and explain(" FIO-002 ").startswith("CG-FIO-002")


def test_explain_never_cuts_a_command_in_two_when_it_wraps() -> None:
    for cid in load_runbooks():
        for line in explain(cid, {}, width=60).splitlines():
            assert line.count("`") % 2 == 0, f"{cid}: {line!r}"


def test_an_unknown_id_is_one_line_naming_it_and_the_closest_known_ids() -> None:
    with pytest.raises(RunbookError) as info:
        explain("CG-FIO-02")
    message = str(info.value)
    assert "\n" not in message and message.startswith("CG-FIO-02: no such check id; closest: ")
    assert "CG-FIO-002" in message and "--list" in message
    assert closest("CG-DRILL", list(load_runbooks()))[0] == "CG-DRILL-001"


# --------------------------------------------------------------------------- docs/runbook.md
def test_docs_runbook_md_is_what_the_catalogue_generates_now() -> None:
    wanted = markdown(load_runbooks(), check_refs(SUITE))
    found = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if found != wanted:
        pairs = zip(found.splitlines() + [""], wanted.splitlines() + [""], strict=False)
        line = next((i for i, (a, b) in enumerate(pairs, 1) if a != b), 0)
        pytest.fail(f"docs/runbook.md is not what cloudgate/runbooks.yaml and tests/infra give now (first "
                    f"difference at line {line}): regenerate it with `{REGENERATE}` and commit it", pytrace=False)


def test_the_document_lists_every_check_under_its_group_and_escapes_what_markdown_would_eat() -> None:
    doc = markdown(load_runbooks(), check_refs(SUITE))
    for cid in load_runbooks():
        assert f"### {cid} — " in doc
    book = Runbook(title="t", means="the <host> named, cg-probe-* VMs", first_actions=("`ssh <host> xl list`", "b"),
                   escalate_when="now", escalate_to="network")
    doc = markdown({"CG-HOST-001": book}, {})
    assert "the &lt;host> named, cg-probe-\\* VMs" in doc and "1. `ssh <host> xl list`" in doc


# --------------------------------------------------------------------------- cloudgate explain
def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from cloudgate.cli import main

    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cloudgate_explain_prints_the_runbook_with_the_contact_of_the_target_file(capsys) -> None:
    code, out, _ = run_cli(capsys, "CG-FIO-002", "--target", str(REPO / "fixtures/targets/example-preprod.yaml"))
    assert code == 0 and out.startswith("CG-FIO-002 · critical · ")
    assert "to:   storage-flash: #storage-oncall (Slack)" in out


def test_cloudgate_explain_of_an_unknown_id_is_one_line_with_the_closest_ids_and_exit_2(capsys) -> None:
    code, out, err = run_cli(capsys, "CG-FIO-02")
    assert code == 2 and not out and err.count("\n") == 1
    assert err.startswith("cloudgate: error: CG-FIO-02: no such check id; closest: CG-FIO-002")


@pytest.mark.parametrize("argv", [(), ("CG-FIO-002", "--list"), ("--markdown", "--target", "t.yaml")],
                         ids=["nothing", "id-and-list", "markdown-with-target"])
def test_cloudgate_explain_refuses_a_meaningless_combination_in_one_line(capsys, argv: tuple[str, ...]) -> None:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("cloudgate: error: ")


def test_cloudgate_explain_list_names_every_check_and_every_role(capsys) -> None:
    code, out, _ = run_cli(capsys, "--list")
    assert code == 0 and all(cid in out for cid in load_runbooks()) and all(role in out for role in ROLES)


def test_cloudgate_explain_markdown_is_docs_runbook_md(capsys) -> None:
    code, out, _ = run_cli(capsys, "--markdown")
    assert code == 0 and out == markdown(load_runbooks(), check_refs(SUITE))
