"""docs/own-data.md, run as written: a shop's own exports to a published, exported segment.

The page is the script: every ```sh block is run and every ```yaml block whose first line
is ``# <path>`` is written to that path, in the page's order, by bash in a folder outside
the repository, with segflow installed from a wheel built from this checkout into a fresh
virtual environment (not editable), so the page cannot promise what an installed segflow
does not do. The shop's data is written by the test in a shape unlike the Holi world:
euros, three categories, no billing, no engagement events, a whitespace-separated
transactions file with YYYYMMDD dates, a semicolon contact list with day-first dates.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "own-data.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
END = "SEGFLOW_PAGE_EOF"

pytestmark = pytest.mark.slow


def write_shop_data(folder: Path, customers: int = 400, seed: int = 1) -> None:
    """The record shop's exports (the page shows their first lines)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start, end = date(2024, 1, 1), date(2025, 12, 31)
    contacts, sales = ["id;email;joined;newsletter"], []
    for i in range(1, customers + 1):
        cid = f"{i:05d}"
        day = joined = start + timedelta(days=rng.randrange(0, 540))
        contacts.append(f"{cid};shopper{i}@example.com;{joined:%d/%m/%Y};"
                        f"{rng.choice(['1', '1', '0'])}")
        habit = rng.choice([20, 45, 120, 400])
        while True:
            day += timedelta(days=max(1, int(rng.expovariate(1 / habit))))
            if day >= end:
                break
            qty = rng.choice([1, 1, 1, 2, 3])
            amount = round(qty * rng.uniform(8, 30), 2)
            kind = rng.choice(["cd", "cd", "vinyl", "cassette"])
            sales.append((day, f"{cid:>6} {day:%Y%m%d}  {qty:>2}  {amount:>8.2f}   {kind}"))
    lines = [line for _, line in sorted(sales)]
    lines.insert(len(lines) // 2, "00007 2025XX01   1     9.99   cd")  # a date nobody reads
    (folder / "contacts.csv").write_text("\n".join(contacts) + "\n")
    (folder / "transactions.txt").write_text("\n".join(lines) + "\n")


def page_script(page: Path) -> str:
    """The page as one bash script: its commands, and its files written where they say."""
    parts = ["set -euo pipefail"]
    for lang, body in BLOCK.findall(page.read_text()):
        if lang == "sh":
            parts.append(body)
        elif lang == "yaml" and body.startswith("# "):
            path = body.splitlines()[0][2:].strip()
            parts.append(f"cat > {path} <<'{END}'\n{body}{END}")
    return "\n".join(parts) + "\n"


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is installed with the dev tools (make install)"
    return found


def _build_wheel(tmp: Path) -> Path:
    """A wheel of this checkout's files (tracked and new, not ignored), built in a copy."""
    src, dist = tmp / "src", tmp / "dist"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    build = [_uv(), "build", "--wheel", "--python", sys.executable, "--out-dir", str(dist),
             str(src)]
    if subprocess.run([*build, "--offline"], capture_output=True).returncode != 0:
        subprocess.run(build, check=True, capture_output=True)   # the cache lacks setuptools
    return next(dist.glob("segflow-*.whl"))


def _venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([_uv(), "venv", "-q", str(venv), "--python", sys.executable], check=True)
    subprocess.run([_uv(), "pip", "install", "-q", "--offline", "--python",
                    str(venv / "bin" / "python"), "-r", str(ROOT / "requirements.lock"),
                    str(wheel)], check=True, capture_output=True)
    return venv


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_own_data_tutorial_runs_as_written_from_an_installed_wheel(tmp_path):
    venv = _venv(tmp_path, _build_wheel(tmp_path))
    installed = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import segflow; print(segflow.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()).parent
    assert installed.is_relative_to(venv), installed     # not the checkout
    platform_before = _digest(installed)
    work = tmp_path / "work"
    shop = work / "record-shop"
    write_shop_data(shop / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-c", page_script(PAGE)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = _squash(done.stdout)

    # what the page shows is what the installed segflow printed
    page = PAGE.read_text()
    for line in ("customers in 400 accepted 400 quarantined 0",
                 "orders in 3,826 accepted 3,825 quarantined 1",
                 "1 loyal_customers 210 200 10 0", "2 lapsed_customers 64 42 2 0"):
        assert line in _squash(page) and line in out, line
    assert "unparsable_date:order_ts: 1 first at" in out and "data row 1913" in out
    # no billing: the revenue control is off with the campaign's reason, never a block
    assert "no finance system: orders are the only record of revenue" in out
    # no engagement events: exports apply no unsubscribes, and say so
    assert "note: no unsubscribes or complaints applied: the project names no engagement " \
        "events table" in out

    ws = shop / "workspace"
    import pyarrow.parquet as pq

    quarantined = pq.read_table(ws / "quarantine" / "orders.parquet").to_pylist()
    assert [(q["_reason"], q["order_ts"]) for q in quarantined] == \
        [("unparsable_date:order_ts", "2025XX01")]
    orders = pq.read_table(ws / "canonical" / "orders.parquet")
    assert orders.num_rows == 3825
    assert set(orders["category"].to_pylist()) == {"cd", "vinyl", "cassette"}
    assert orders["amount_base"].to_pylist() == orders["amount"].to_pylist()   # all EUR

    runs = [p for p in (ws / "exports").iterdir() if p.is_dir()]
    assert len(runs) == 1
    exported = {p.parent.name: list(csv.DictReader(p.open()))
                for p in runs[0].glob("*/email.csv")}
    assert set(exported) == {"loyal_customers", "lapsed_customers"}
    assert all(rows for rows in exported.values())
    consented = {r["id"] for r in csv.DictReader((shop / "data" / "contacts.csv").open(),
                                                 delimiter=";") if r["newsletter"] == "1"}
    assert {r["customer_id"] for rows in exported.values() for r in rows} <= consented
    manifests = [json.loads(p.read_text()) for p in runs[0].rglob("*manifest*.json")]
    assert manifests and any(m.get("left_out", {}).get("no_consent") for m in manifests)
    assert json.loads((runs[0] / "manifest.json").read_text())["events_table"] is None
    assert any((ws / "published").iterdir())

    assert _digest(installed) == platform_before            # no platform file touched
