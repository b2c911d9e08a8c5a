"""segflow.failures: each library error class a user meets becomes one line they can act on
(real exceptions raised by DuckDB, Arrow and the OS, not hand-made ones)."""

from __future__ import annotations

import errno

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow.errors import DiskFull, EnvironmentFailure, PermissionDenied, SegflowError
from segflow.failures import describe, one_line


def _raised(fn) -> Exception:
    with pytest.raises(Exception) as err:  # noqa: PT011 (the class is what is tested)
        fn()
    return err.value


def _one_line(error: SegflowError) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_duckdb_csv_error_says_file_line_and_cause_without_the_options_dump(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"id,name\n1,ok\n2,Zo\xeb\n")
    err = _raised(lambda: duckdb.sql(f"SELECT * FROM read_csv('{path}', header=true, "
                                     "auto_detect=false, columns={'id': 'VARCHAR', "
                                     "'name': 'VARCHAR'})").fetchall())
    assert "delimiter =" in str(err)                         # DuckDB's own dump
    text = _one_line(describe(err))
    assert text.startswith(f"{path}:3: the text is not valid UTF-8; set `encoding:`")


def test_duckdb_truncated_parquet_names_the_file_and_what_to_do(tmp_path):
    path = tmp_path / "canonical" / "orders.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    path.write_bytes(path.read_bytes()[:20])
    error = describe(_raised(lambda: duckdb.sql(f"SELECT * FROM '{path}'").fetchall()))
    assert _one_line(error) == (f"{path} is not a complete Parquet file (truncated, or not "
                                "Parquet); re-run `segflow ingest` to rebuild it, or restore "
                                "it from a backup")


def test_duckdb_io_and_conversion_errors(tmp_path):
    missing = tmp_path / "nope.parquet"
    error = describe(_raised(lambda: duckdb.sql(f"SELECT * FROM '{missing}'").fetchall()))
    assert _one_line(error) == f"no such file: {missing}"
    error = describe(_raised(lambda: duckdb.sql("SELECT 'abc'::INTEGER").fetchall()))
    assert _one_line(error) == "Could not convert string 'abc' to INT32"


def test_arrow_parquet_error_without_a_path_points_at_doctor(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not parquet at all")
    error = describe(_raised(lambda: pq.read_schema(path)))
    assert "run `segflow doctor` to find which" in _one_line(error)
    error = describe(_raised(lambda: pq.read_table(str(path))))
    assert _one_line(error).startswith(f"{path} is not a complete Parquet file")


def test_os_errors(tmp_path):
    full = describe(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "a.bin")))
    assert isinstance(full, DiskFull) and full.exit_code == 3
    assert _one_line(full).startswith(f"disk full: cannot write {tmp_path / 'a.bin'} (")
    denied = describe(PermissionError(errno.EACCES, "Permission denied", "/root/x"))
    assert isinstance(denied, PermissionDenied) and "permission denied: /root/x" in str(denied)
    assert isinstance(describe(OSError(errno.EIO, "I/O error", "/dev/sdz")), EnvironmentFailure)


def test_unicode_error_names_the_encoding_and_the_option():
    error = describe(_raised(lambda: b"ok\n\xff".decode("utf-8")))
    assert "not valid utf-8 text (byte 0xff at offset 3)" in _one_line(error)
    assert "`encoding:`" in str(error)


def test_a_bug_is_not_dressed_up_as_a_user_error():
    assert describe(KeyError("x")) is None
    assert describe(duckdb.BinderException("Binder Error: x")) is None
    assert one_line(KeyError("x")) == "'x'"


def test_a_full_disk_inside_another_error_class_is_still_a_full_disk(tmp_path):
    """DuckDB reports a WAL it cannot write as a TransactionException (met for real in
    tests/scoring/test_scoring_faults.py): the words, not the class, say it."""
    wal = tmp_path / "segflow.duckdb.wal"
    error = describe(duckdb.TransactionException(
        f'TransactionContext Error: Failed to commit: Could not write file "{wal}": '
        "No space left on device"))
    assert isinstance(error, DiskFull)
    assert _one_line(error).startswith(f"disk full: cannot write {wal} (")


def test_duckdb_at_segflow_s_memory_cap_says_so_not_close_other_programs():
    """DuckDB out of memory under the cap segflow set (a share of RAM): the line names that
    cap and the way out (a bigger machine); closing other programs would not raise it."""
    con = duckdb.connect(config={"memory_limit": "20MB", "threads": 1})
    error = describe(_raised(lambda: con.execute(
        "SELECT list(i) FROM range(20000000) t(i)").fetchall()))
    text = _one_line(error)
    assert isinstance(error, EnvironmentFailure)
    assert text.startswith("out of memory: failed to allocate")
    assert "MiB segflow gives it for this step" in text and "close other programs" not in text
    assert text.endswith("run on a machine with more memory")
