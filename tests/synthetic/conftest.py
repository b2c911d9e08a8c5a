"""One small Holi world per test session; the generators are pure, so sharing it is safe."""

from __future__ import annotations

import pytest

N_CUSTOMERS = 2000


@pytest.fixture(scope="session")
def holi_world():
    from segflow.ingest.synthetic.holi import generate_holi

    return generate_holi(N_CUSTOMERS, seed=11)


@pytest.fixture(scope="session")
def messy_world(tmp_path_factory):
    """Source files as `segflow demo-data holi` writes them, with their truth."""
    from segflow.ingest.synthetic.writer import write_holi_world

    out = tmp_path_factory.mktemp("messy")
    return write_holi_world(out, N_CUSTOMERS, seed=11, messy=True)
