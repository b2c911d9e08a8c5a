"""The audit log nobody can rewrite: every tampering is detected and names its entry; a
torn last line (a crash mid-append) is repaired and never breaks later appends."""

from __future__ import annotations

import json

import pytest
from govworld import AS_OF_1, base_features, copy_world, governed, make_world, write_canonical
from govworld import approve_and_publish as publish
from typer.testing import CliRunner

from segflow.cli import app


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A world whose log has a govern, a drift check, an approval and a publication, then a
    second run governed, checked and approved (seven entries)."""
    settings = make_world(tmp_path_factory.mktemp("audited"))
    f = base_features()
    write_canonical(settings, list(f.customer_id))
    run = governed(settings, f, AS_OF_1)
    publish(settings, run)
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve

    approve(settings, governed(settings, f, AS_OF_1), "lead.analyst",
            "second run checked against billing")
    assert verdict(settings, run).state == "published"
    return settings


@pytest.fixture
def log(logged, tmp_path, monkeypatch):
    """(settings, lines of the file) in a private copy of the logged world."""
    settings = copy_world(logged, tmp_path / "copy")
    monkeypatch.setenv("SEGFLOW_HOME", str(settings.home))
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(settings.templates_root))
    from segflow.settings import set_home

    set_home(None)
    lines = settings.audit_log_path.read_text().splitlines()
    assert [json.loads(x)["action"] for x in lines] == [
        "govern", "drift_checked", "approve", "publish", "govern", "drift_checked", "approve"]
    return settings, lines


def _write(settings, lines) -> None:
    settings.audit_log_path.write_text("".join(x + "\n" for x in lines))


def _verify() -> tuple[int, list[str]]:
    out = CliRunner().invoke(app, ["audit", "verify"])
    return out.exit_code, [x.strip()[2:] for x in out.output.splitlines()
                           if x.strip().startswith("- ")]


def _rechain(entries: list[dict], start: int, key: bytes | None = None) -> list[str]:
    """Recompute plain hashes (and, with ``key``, signatures) from entry ``start`` on."""
    from segflow.governance.audit import canonical, plain_hash, signature

    for i in range(start, len(entries)):
        if i:
            entries[i]["prev_hash"] = entries[i - 1]["hash"]
        entries[i]["hash"] = plain_hash(entries[i])
        if key is not None:
            entries[i]["mac"] = signature(key, entries[i])
    return [canonical(e) for e in entries]


def test_intact_log_verifies(log):
    code, problems = _verify()
    assert code == 0 and problems == []


def test_an_edited_entry_is_named(log):
    settings, lines = log
    entry = json.loads(lines[1])
    entry["payload"]["reason"] = "nobody checked anything"
    _write(settings, [lines[0], json.dumps(entry), *lines[2:]])
    code, problems = _verify()
    assert code == 1 and problems[0] == "line 2 (seq 2): edited (its content does not match " \
                                        "its hash)"


def test_an_edit_rechained_with_correct_plain_hashes_is_named(log):
    settings, lines = log
    entries = [json.loads(x) for x in lines]
    entries[1]["payload"]["by"] = "someone.else"
    _write(settings, _rechain(entries, 1))
    code, problems = _verify()
    assert code == 1 and problems[0].startswith("line 2 (seq 2): signature invalid")
    assert any(p.startswith("line 5 (seq 5): signature invalid") for p in problems)


def test_an_edit_resigned_with_the_key_still_disagrees_with_the_database(log):
    from segflow.governance.audit import load_key

    settings, lines = log
    entries = [json.loads(x) for x in lines]
    entries[2]["payload"]["rows"] = 1
    _write(settings, _rechain(entries, 2, load_key(settings)))
    code, problems = _verify()
    assert code == 1 and problems[0] == "line 3 (seq 3): differs from the database copy"


def test_a_deleted_entry_is_named(log):
    settings, lines = log
    _write(settings, [lines[0], lines[1], *lines[3:]])
    code, problems = _verify()
    assert code == 1 and problems == ["entries deleted from the file: seq 3"]


def test_swapped_entries_are_named(log):
    settings, lines = log
    _write(settings, [lines[0], lines[2], lines[1], *lines[3:]])
    code, problems = _verify()
    assert code == 1 and any(p.startswith("line 3 (seq 2): out of order after seq 3")
                             for p in problems)


def test_a_truncated_tail_is_named(log):
    settings, lines = log
    _write(settings, lines[:3])
    code, problems = _verify()
    assert code == 1 and problems == ["truncated: the file ends at seq 3, the database head "
                                      "is seq 7 (entries 4..7 are missing from the file)"]


def test_a_forged_append_is_named(log):
    settings, lines = log
    last = json.loads(lines[-1])
    forged = {**last, "seq": 8, "action": "approve", "actor": "mallory",
              "payload": {"by": "mallory", "reason": "looks fine to me"}, "mac": "0" * 64}
    _write(settings, [*lines, _rechain([last, forged], 1)[1]])
    code, problems = _verify()
    assert code == 1 and problems[0].startswith("line 8 (seq 8): signature invalid")
    assert "line 8 (seq 8): not in the database (appended outside segflow)" in problems


def test_a_missing_file_is_named(log):
    settings, _ = log
    settings.audit_log_path.unlink()
    code, problems = _verify()
    assert code == 1 and problems == ["audit.jsonl is missing: the database records 7 entries"]


def test_a_missing_key_fails_verification(log):
    settings, _ = log
    settings.audit_key_path.unlink()
    code, problems = _verify()
    assert code == 1 and problems[0].startswith("cannot verify signatures: the audit key is "
                                                "missing")


def test_cutting_file_and_database_back_is_caught_by_the_publication_manifest(log):
    from segflow.db import connect

    settings, lines = log
    _write(settings, lines[:2])
    with connect(settings) as con:
        con.execute("DELETE FROM audit_entries WHERE seq > 2")
        second = json.loads(lines[1])
        con.execute("UPDATE audit_head SET seq = 2, hash = ?, file_seq = 2", [second["hash"]])
    code, problems = _verify()
    assert code == 1 and problems == [
        f"publication manifest holi_test/v00001.json records audit head seq 4 "
        f"({json.loads(lines[3])['hash'][:12]}...), but the log's head is seq 2: entries "
        "were cut from both the file and the database"]


def test_a_torn_last_line_is_repaired_and_later_appends_work(log):
    """An append cut half-way (disk full) leaves a torn line; the next action repairs it
    from the database copy before appending its own entry."""
    import errno

    from segflow.governance import audit

    settings, lines = log

    def tear(point):
        if point == "audit.file_torn":
            raise OSError(errno.ENOSPC, "No space left on device")

    recorded = audit.record(settings, "segflow", "note", {"text": "a test entry"}, hook=tear)
    assert recorded.note and "doctor" in recorded.note
    text = settings.audit_log_path.read_text()
    assert not text.endswith("\n")
    code, problems = _verify()
    assert code == 1 and problems[0].startswith("line 8: torn last line (seq 8)")
    audit.record(settings, "segflow", "note", {"text": "the next entry"})
    code, problems = _verify()
    assert code == 0, problems
    assert [json.loads(x)["seq"] for x in settings.audit_log_path.read_text().splitlines()] \
        == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_every_entry_records_the_os_user(log):
    from segflow.governance.audit import os_user, read

    settings, _ = log
    entries = read(settings)
    assert {e["os_user"] for e in entries} == {os_user()}
    assert [e["actor"] for e in entries][:4] == ["segflow", "segflow", "lead.analyst",
                                                 "lead.analyst"]


def test_an_empty_workspace_has_nothing_to_verify(home):
    out = CliRunner().invoke(app, ["audit", "verify"])
    assert out.exit_code == 0 and "audit log intact: 0 entries" in out.output


def test_a_workspace_that_does_not_exist_is_an_error_not_an_intact_log(home, tmp_path,
                                                                       capsys):
    """A mistyped --home must not read as a verified log (0 entries, intact), nor create it."""
    from segflow.cli import run

    missing = tmp_path / "no-such-workspace"
    assert run(["--home", str(missing), "audit", "verify"]) == 2
    out = capsys.readouterr()
    assert "intact" not in out.out
    assert f"no workspace at {missing}: nothing to verify" in out.err
    assert not missing.exists()


def test_doctor_names_a_workspace_whose_database_and_log_were_deleted(log):
    """Without the database there is nothing to repair, but the publication left behind
    records the audit head it was made at: doctor says entries are gone (exit 1), as
    audit verify does, instead of 'consistent'."""
    from segflow.doctor import examine

    settings, _ = log
    settings.audit_log_path.unlink()
    for path in settings.database_path.parent.glob(settings.database_path.name + "*"):
        path.unlink()
    problems = [f.problem for f in examine(settings, repair=False) if not f.ok]
    assert any("publication manifest holi_test/v00001.json records audit head seq 4" in p
               for p in problems), problems
