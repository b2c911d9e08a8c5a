"""OpenMP threads wait asleep in every segflow process and on Spark's executors (segflow's
``OMP_WAIT_POLICY``): spinning threads on a busy 2-core machine made a small LightGBM fit
cost ten times its CPU. A user's own setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

from segflow.engines import SparkSettings

SHOW = ("import segflow, lightgbm, os; print(os.environ['OMP_WAIT_POLICY'])")


def _policy(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True,
                          env=env, check=True)
    return done.stdout.strip()


def test_a_segflow_process_sets_passive_waiting_unless_the_user_chose():
    plain = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(plain) == "PASSIVE"
    assert _policy({**plain, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"


def test_spark_executors_get_passive_waiting_unless_the_project_says():
    from segflow import spark as sp

    conf = sp.session_conf(SparkSettings(master="local[1]"))
    assert conf["spark.executorEnv.OMP_WAIT_POLICY"] == "PASSIVE"
    own = SparkSettings(master="local[1]",
                        conf=(("spark.executorEnv.OMP_WAIT_POLICY", "ACTIVE"),))
    assert sp.session_conf(own)["spark.executorEnv.OMP_WAIT_POLICY"] == "ACTIVE"
