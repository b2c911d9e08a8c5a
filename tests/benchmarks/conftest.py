"""The benchmarks are run from the project root (``python -m benchmarks.run``) and are not an
installed package: put the project root first on the path so ``benchmarks`` is the
project's, not the namespace this test folder would otherwise make of its name."""

from __future__ import annotations

import sys

from holi_project import ROOT as PROJECT_ROOT

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
