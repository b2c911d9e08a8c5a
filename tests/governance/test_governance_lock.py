"""Two commands at once: the second stops with one line naming the first (no DuckDB
traceback) and leaves nothing behind; a refresh killed half-way leaves a run that the next
refresh marks failed, with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from govworld import AS_OF_1, base_features, copy_world, make_world, write_canonical
from paused import stopped_at

REFRESH = textwrap.dedent("""
    import sys
    import pandas as pd, pyarrow as pa
    from segflow.settings import get_settings
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.governance.pipeline import govern_run
    features = pa.Table.from_pandas(pd.read_parquet(sys.argv[1]), preserve_index=False)
    record = refresh_with_overrides(get_settings(), "holi_test", "2027-02-01",
                                    features=features)
    govern_run(get_settings(), record.run_id)
    print(record.run_id)
""")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A world with one refresh done (so its model registry and tables exist)."""
    import pyarrow as pa

    from segflow.governance.refresh import refresh_with_overrides

    root = tmp_path_factory.mktemp("lock")
    settings = make_world(root)
    f = base_features()
    write_canonical(settings, list(f.customer_id))
    f.to_parquet(root / "features.parquet", index=False)
    refresh_with_overrides(settings, "holi_test", AS_OF_1,
                           features=pa.Table.from_pandas(f, preserve_index=False))
    return settings


def _paused_refresh(frame, env) -> subprocess.Popen:
    """A real refresh process stopped after its run was created, before memberships."""
    return stopped_at([sys.executable, "-c", REFRESH, str(frame)], env, "refresh.scored")


def test_the_second_command_names_the_first_and_the_next_refresh_fails_its_orphan(
        prepared, tmp_path):
    import pandas as pd
    import pyarrow as pa

    from segflow.governance.refresh import refresh_with_overrides
    from segflow.runstore import list_runs

    settings = copy_world(prepared, tmp_path / "w")
    frame = tmp_path / "w" / "features.parquet"
    env = {**os.environ, "SEGFLOW_HOME": str(settings.home),
           "SEGFLOW_TEMPLATES": str(settings.templates_root)}
    before = {r.run_id for r in list_runs(settings)}
    first = _paused_refresh(frame, env)
    try:
        for argv in (["refresh", "--campaign", "holi_test"], ["doctor"],
                     ["approve", "any-run", "--by", "lead.analyst", "--reason",
                      "figures checked against billing"]):
            out = subprocess.run([sys.executable, "-m", "segflow.cli", *argv], text=True,
                                 capture_output=True, env={**env, "SEGFLOW_LOCK_WAIT": "0"})
            assert out.returncode == 3, out.stderr
            assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
            assert out.stderr.startswith(f"error: the workspace {settings.home} is busy: ")
            assert f"(process {first.pid}, user " in out.stderr and "(refresh)" in out.stderr
        (orphan,) = [r for r in list_runs(settings) if r.run_id not in before]
        assert orphan.status == "created"  # the paused refresh's run; nobody else made one
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    features = pa.Table.from_pandas(pd.read_parquet(frame), preserve_index=False)
    refresh_with_overrides(settings, "holi_test", AS_OF_1, features=features)
    runs = {r.run_id: r for r in list_runs(settings)}
    assert runs[orphan.run_id].status == "failed"
    assert "interrupted" in runs[orphan.run_id].inputs["failure"]
    assert [r.status for r in runs.values()].count("created") == 0 and len(runs) == 3
