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


def _partitioned(folder, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def test_a_partitioned_folder_hashes_each_partition_s_path_and_bytes_in_name_order(tmp_path):
    """Memberships partitioned by cohort (cohort=<name>/part files): the hash combines each
    data file's relative path and the SHA-256 of its bytes, in name order (what the
    executors compute too), whatever order the files were written in; markers inside a
    partition are left out; a row file moved to another cohort changes it."""
    files = {"cohort=b/part-0.parquet": b"rows of b",
             "cohort=__HIVE_DEFAULT_PARTITION__/part-0.parquet": b"no cohort",
             "cohort=a/part-1.parquet": b"a1", "cohort=a/part-0.parquet": b"a0"}
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    _partitioned(one, files)
    _partitioned(two, dict(reversed(list(files.items()))))
    _partitioned(two, {"_SUCCESS": b"", "cohort=a/.part-0.parquet.crc": b"x",
                       "cohort=a/_committed_1": b"y"})
    want = hashlib.sha256()
    for rel in sorted(files):
        want.update(f"{rel}\0{hashlib.sha256(files[rel]).hexdigest()}\n".encode())
    assert file_sha256(one) == file_sha256(two) == want.hexdigest()
    (two / "cohort=a/part-1.parquet").rename(two / "cohort=b/part-1.parquet")
    assert file_sha256(two) != file_sha256(one)
