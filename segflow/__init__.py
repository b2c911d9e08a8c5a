"""segflow: governed, explainable, automated customer segmentation."""

import os

__version__ = "0.1.0"

# OpenMP threads (LightGBM's) spin briefly, then sleep, while they wait for work. The GNU
# runtime spins 300,000 times by default: on busy cores (a loaded 2-core runner, a Spark
# executor with a task per core) a spinning thread holds the core the other needs, and a
# LightGBM fit cost 3-5x its wall time. Never spinning (OMP_WAIT_POLICY=PASSIVE) is as bad
# on an idle machine, where every wake-up is a system call. Measured 2026-12-03 on 2
# cores, a 300-tree, 63-leaf cross-fitted test (tests/training/test_training_estimators.py,
# cross_fitting), wall s idle / beside two busy loops: default 6.6 / 31.4, passive 45.5 /
# 14.0, 10,000 spins 7.2 / 11.8. Set before any OpenMP runtime loads (training imports
# LightGBM lazily); a user's own setting is kept. Spark executors get it too
# (segflow.spark). GNU's runtime only (LightGBM's Linux wheels).
OMP_SPIN = ("GOMP_SPINCOUNT", "10000")
os.environ.setdefault(*OMP_SPIN)
