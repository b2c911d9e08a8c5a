"""Every command that can fail exits with its class's code (docs/cli.md) and says why in
one line: real `segflow` processes, stderr checked for tracebacks.

0 success, 1 a check found problems or a gate blocked, 2 a usage or input error, 3 the
environment stopped the command (busy workspace, full disk, permissions), 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from segflow.errors import EXIT_CHECK, EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_INTERRUPTED

CUSTOMERS = ("customer_id,email,phone,name,signup_ts,region,country,city,preferred_language,"
             "consent_email,consent_sms,consent_push,consent_ads,onboarding_completed\n"
             "C1,a@x.com,,Asha,2025-01-01,Maharashtra,IN,Pune,hindi,true,true,true,true,true\n")
ORDERS = "order_id,customer_id,order_ts,amount,currency,quantity,category,festival,channel,status\n"
ORDER = "O{},C1,2026-03-01T10:00:00Z,10,INR,1,sweets,,web,completed\n"


def no_traceback(result) -> None:
    assert "Traceback" not in result.err, result.err
    assert "Traceback" not in result.out, result.out


def write_sources(home: Path, orders: int = 5) -> Path:
    folder = home / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text(CUSTOMERS)
    (folder / "orders.csv").write_text(ORDERS + "".join(ORDER.format(i) for i in range(orders)))
    (folder / "sources.yaml").write_text(textwrap.dedent("""\
        as_of: 2027-03-01
        sources:
          customers: {kind: csv, path: customers.csv}
          orders: {kind: csv, path: orders.csv}
        """))
    return folder


BAD_TEMPLATE = """\
name: broken
title: Broken
description: A predicate that is not a condition.
owner: lead.analyst
kind: cohort
entity: customer
where: lifetime_spend
"""


def test_usage_and_input_errors_exit_2_in_one_line(cli, tmp_path):
    cases = {  # args -> what stderr must say
        ("drift",): "--campaign is required",
        ("nosuch",): "No such command 'nosuch'",
        ("ingest", "--bogus"): "No such option: --bogus",
        ("refresh",): "Missing option '--campaign'",
        ("features", "build", "--as-of", "notadate"): "not an ISO date or datetime",
        ("ingest",): "no sources.yaml here",
        ("runs", "show", "nope"): "no run 'nope'",
        ("templates", "check", str(tmp_path / "none.yaml")): "no such file or folder",
        ("features", "online-load"): "no feature snapshots built yet",
        ("refresh", "--campaign", "nope"): "no campaign 'nope'",
        ("run", "--campaign", "nope", "--no-ingest"): "no campaign 'nope'",
    }
    def run(numbered):   # each in its own workspace: some take the workspace lock
        n, args = numbered
        return cli(tmp_path / f"ws{n}", *args)

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(cases, pool.map(run, enumerate(cases)), strict=True))
    for args, words in cases.items():
        result = results[args]
        assert result.code == EXIT_INPUT, (args, result)
        assert words in result.err, (args, result.err)
        no_traceback(result)
    usage = results[("drift",)]
    assert "Usage: segflow drift" in usage.err          # click's usage line comes first


def test_a_check_that_finds_problems_exits_1(cli, tmp_path):
    home = tmp_path / "ws"
    template = tmp_path / "broken.yaml"
    template.write_text(BAD_TEMPLATE)
    result = cli(home, "templates", "check", str(template))
    assert result.code == EXIT_CHECK
    assert f"{template}:7: where: must be a condition" in result.err
    no_traceback(result)

    home.mkdir()
    (home / "left.tmp").write_text("half")
    result = cli(home, "doctor", "--dry-run")
    assert result.code == EXIT_CHECK and "left.tmp" in result.out
    no_traceback(result)


def test_a_header_only_source_is_refused_with_exit_1(cli, tmp_path):
    home = tmp_path / "ws"
    write_sources(home, orders=5)
    assert cli(home, "ingest").code == 0
    (home / "sources" / "orders.csv").write_text(ORDERS)
    result = cli(home, "ingest")
    assert result.code == EXIT_CHECK
    assert result.line.startswith("error: ingest refused, nothing was written: orders would "
                                  "go from 5 to 0 rows")
    no_traceback(result)
    assert cli(home, "ingest", "--allow-shrink").code == 0


def test_a_busy_workspace_exits_3_naming_the_holder(cli, tmp_path):
    home = tmp_path / "ws"
    write_sources(home)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom segflow.settings import get_settings\n"
         "from segflow.lock import workspace_lock\nwith workspace_lock(get_settings(), "
         "'publish'):\n    print('held', flush=True)\n    sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "SEGFLOW_HOME": str(home)})
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli(home, "ingest")
    finally:
        holder.kill()
        holder.wait()
    assert result.code == EXIT_ENVIRONMENT
    assert "is busy" in result.line and f"process {holder.pid}" in result.line
    no_traceback(result)


@pytest.mark.parametrize(("code", "words", "then"), [
    ("ENOSPC", "disk full: cannot write ", " free on that filesystem); free some space"),
    ("EACCES", "permission denied: ", "check its owner and mode"),
])
def test_disk_full_and_permission_denied_exit_3_naming_the_path(cli, tmp_path, code, words, then):
    """Injected at the first write (a disk filled for real: tests/ingest/test_ingest_faults.py)."""
    home = tmp_path / "ws"
    write_sources(home)
    result = cli(home, "ingest", env={"SEGFLOW_FAULTS": f"ingest.write={code}"})
    assert result.code == EXIT_ENVIRONMENT
    assert result.line.startswith(f"error: {words}{home / 'canonical'}/customers.parquet")
    assert then in result.line
    no_traceback(result)
    assert not (home / "canonical" / "customers.parquet").exists()
    assert not list((home / "canonical").glob("*.staged"))


def test_a_truncated_canonical_table_is_named_with_what_to_do(cli, tmp_path):
    home = tmp_path / "ws"
    write_sources(home)
    assert cli(home, "ingest").code == 0
    table = home / "canonical" / "customers.parquet"
    table.write_bytes(table.read_bytes()[:200])
    result = cli(home, "features", "build", "--as-of", "2027-03-01")
    assert result.code == EXIT_INPUT
    assert result.line == (f"error: {table} is not a complete Parquet file (truncated, or "
                           "not Parquet); re-run `segflow ingest` to rebuild it, or restore "
                           "it from a backup")
    no_traceback(result)


def test_a_file_in_another_encoding_names_file_line_and_option(cli, tmp_path):
    home = tmp_path / "ws"
    folder = write_sources(home)
    (folder / "customers.csv").write_bytes(CUSTOMERS.replace("Asha", "Zoë").encode("latin-1"))
    result = cli(home, "ingest")
    assert result.code == EXIT_INPUT
    assert result.line.startswith(f"error: {folder / 'customers.csv'}:2: not valid utf-8 "
                                  "text; set `encoding:`")
    no_traceback(result)
    (folder / "sources.yaml").write_bytes("# Zoë's sources\n".encode("latin-1")
                                          + (folder / "sources.yaml").read_bytes())
    result = cli(home, "ingest")
    assert result.code == EXIT_INPUT
    assert result.line == f"error: {folder / 'sources.yaml'}:1: not valid UTF-8 text; save " \
                          "the file as UTF-8"


def test_server_on_every_interface_without_auth_is_refused(cli, tmp_path):
    result = cli(tmp_path / "ws", "server", "--host", "0.0.0.0",  # noqa: S104
                     unset=("PREFECT_SERVER_API_AUTH_STRING",))
    assert result.code == EXIT_INPUT
    assert "refusing to listen on 0.0.0.0 without authentication" in result.line
    assert "PREFECT_SERVER_API_AUTH_STRING" in result.line
    no_traceback(result)


def test_ctrl_c_exits_130(cli, tmp_path):
    home = tmp_path / "ws"
    write_sources(home)
    proc = cli.paused(home, "ingest.checked", "ingest")
    proc.send_signal(signal.SIGINT)
    # wait with stdin still open: the interrupt, not an end of input, must end the pause
    proc.wait(timeout=60)
    err = proc.stderr.read()
    proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED and err.strip().endswith("aborted")
    assert "Traceback" not in err
    assert not (home / "canonical" / "orders.parquet").exists()


def test_verbose_keeps_the_traceback(cli, tmp_path):
    result = cli(tmp_path / "ws", "--verbose", "runs", "show", "nope")
    assert result.code == EXIT_INPUT
    assert "Traceback" in result.err and result.line == (
        f"error: no run 'nope' in {tmp_path / 'ws' / 'runs'} (see `segflow runs list`)")
