"""A run file's hash (what the gate and the seal compare) for a file and for the folder of
part files a Spark run writes."""

from __future__ import annotations

import hashlib

from segflow.runstore import file_sha256


def test_a_file_hashes_as_sha256_of_its_bytes(tmp_path):
    path = tmp_path / "memberships.parquet"
    path.write_bytes(b"rows")
    assert file_sha256(path) == hashlib.sha256(b"rows").hexdigest()


def test_a_folder_hashes_its_data_files_and_not_spark_s_markers(tmp_path):
    folder = tmp_path / "memberships.parquet"
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(b"a")
    (folder / "part-00001.parquet").write_bytes(b"b")
    before = file_sha256(folder)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-00000.parquet.crc").write_bytes(b"x")
    assert file_sha256(folder) == before
    (folder / "part-00001.parquet").write_bytes(b"c")
    changed = file_sha256(folder)
    assert changed != before
    (folder / "part-00001.parquet").rename(folder / "part-00002.parquet")
    assert file_sha256(folder) not in (before, changed)
