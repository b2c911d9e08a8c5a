"""OpenMP threads spin briefly, then sleep, in every segflow process and on Spark's
executors (segflow's ``OMP_SPIN``): GNU's default spin made a small LightGBM fit cost 3-5x
its time on busy cores, and never spinning cost 7x on idle ones. A user's own setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

from segflow.engines import SparkSettings

SHOW = "import segflow, lightgbm, os; print(os.environ['GOMP_SPINCOUNT'])"


def _spin(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True,
                          env=env, check=True)
    return done.stdout.strip()


def test_a_segflow_process_bounds_the_spin_unless_the_user_chose():
    plain = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert _spin(plain) == "10000"
    assert _spin({**plain, "GOMP_SPINCOUNT": "infinity"}) == "infinity"


def test_spark_executors_get_the_bounded_spin_unless_the_project_says():
    from segflow import spark as sp

    conf = sp.session_conf(SparkSettings(master="local[1]"))
    assert conf["spark.executorEnv.GOMP_SPINCOUNT"] == "10000"
    own = SparkSettings(master="local[1]", conf=(("spark.executorEnv.GOMP_SPINCOUNT", "0"),))
    assert sp.session_conf(own)["spark.executorEnv.GOMP_SPINCOUNT"] == "0"
