"""`segflow init` writes a starter project; the holi starter is this repository's project."""

from __future__ import annotations

import glob
import tomllib

from holi_project import ROOT

from segflow.starters import STARTERS, project_files, starter_root


def _holi_package_data() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["segflow.starters.holi"] == "."
    return config["package-data"]["segflow.starters.holi"]


def test_the_wheel_carries_every_file_of_the_holi_project():
    """setuptools globs each package-data pattern in the package's folder (the repository
    root): together they must match every file of the project's parts, or a user's
    `segflow init --starter holi` from a wheel would miss one."""
    matched = {p for pattern in _holi_package_data()
               for p in glob.glob(pattern, root_dir=ROOT)}
    missing = [str(f) for f in project_files(ROOT) if str(f) not in matched]
    assert missing == [], f"add these to pyproject's segflow.starters.holi package-data: {missing}"


def test_the_wheel_carries_every_file_of_the_blank_project():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    root = starter_root("blank")
    matched = {p for pattern in config["package-data"]["segflow.starters.blank"]
               for p in glob.glob(pattern, root_dir=root)}
    files = project_files(root)
    assert {"sources.yaml", "contracts/orders.yaml", "feature_repo/customer_rfm.py",
            "segment_templates/campaigns/winback.yaml", "owners.yaml"} <= {str(f) for f in files}
    missing = [str(f) for f in files if str(f) not in matched]
    assert missing == [], f"add these to pyproject's segflow.starters.blank package-data: {missing}"


def test_the_holi_starter_is_this_repository_not_a_copy():
    assert starter_root("holi") == ROOT


def test_init_writes_the_holi_project_byte_for_byte(cli, tmp_path):
    dest = tmp_path / "new" / "shop"
    done = cli(tmp_path / "ws", "init", dest, "--starter", "holi")
    assert done.code == 0, done.err
    assert "created project 'holi'" in done.out and "segflow demo holi" in done.out
    files = project_files(ROOT)
    assert len(files) > 50
    for rel in files:
        assert (dest / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert project_files(dest) == files
    assert (dest / ".gitignore").read_text().splitlines()[1::2] == ["workspace/", "data/"]


def test_init_never_replaces_a_file_without_force(cli, tmp_path):
    dest = tmp_path / "shop"
    assert cli(tmp_path / "ws", "init", dest, "--starter", "holi").code == 0
    owners = dest / "owners.yaml"
    owners.write_text("edited by the team\n")
    (dest / "orders.csv").write_text("id\n1\n")

    again = cli(tmp_path / "ws", "init", dest, "--starter", "holi")
    assert again.code == 2
    assert again.line.startswith(f"error: {dest} already holds")
    assert "--force" in again.line and "Traceback" not in again.err
    assert owners.read_text() == "edited by the team\n"

    forced = cli(tmp_path / "ws", "init", dest, "--starter", "holi", "--force")
    assert forced.code == 0, forced.err
    assert owners.read_bytes() == (ROOT / "owners.yaml").read_bytes()
    assert (dest / "orders.csv").read_text() == "id\n1\n"  # not the starter's: left alone


def test_init_writes_into_a_folder_holding_other_files(cli, tmp_path):
    dest = tmp_path / "shop"
    dest.mkdir()
    (dest / "transactions.txt").write_text("1 20260101 3 9.99\n")
    done = cli(tmp_path / "ws", "init", dest)
    assert done.code == 0, done.err
    assert (dest / "segflow.yaml").is_file()
    assert (dest / "transactions.txt").read_text() == "1 20260101 3 9.99\n"


def test_init_refuses_an_unknown_starter_and_a_file(cli, tmp_path):
    bad = cli(tmp_path / "ws", "init", tmp_path / "x", "--starter", "retail")
    assert bad.code == 2
    assert bad.line == f"error: unknown starter 'retail'; starters are {', '.join(STARTERS)}"
    assert not (tmp_path / "x").exists()
    target = tmp_path / "afile"
    target.write_text("")
    file = cli(tmp_path / "ws", "init", target)
    assert file.code == 2 and "is a file" in file.line


def test_every_starter_is_a_project():
    for name in STARTERS:
        assert (starter_root(name) / "segflow.yaml").is_file(), name
        assert project_files(starter_root(name))[0].name == "segflow.yaml"


def test_the_accounts_starter_takes_its_files_from_the_holi_project(cli, tmp_path):
    """Derived, not copied: every file but its segflow.yaml is one of the repository's."""
    from segflow.project import load_project
    from segflow.starters import starter_files

    plan = starter_files("accounts")
    assert plan[0][1].name == "segflow.yaml"
    for source, _ in plan[1:]:
        assert source.is_relative_to(ROOT), source
    dest = tmp_path / "b2b"
    done = cli(tmp_path / "ws", "init", dest, "--starter", "accounts")
    assert done.code == 0, done.err
    project = load_project(dest)
    assert (project.name, project.base_currency) == ("accounts", "INR")
    views = sorted(p.stem for p in project.path("feature_repo").glob("*.py"))
    assert views == ["account_flags", "account_growth", "account_product_mix", "account_revenue",
                     "account_tenure", "entities", "services_accounts"]
    assert sorted(p.name for p in project.path("contracts").glob("*.yaml")) == [
        "account_notes.yaml", "accounts.yaml", "billing.yaml", "customers.yaml",
        "engagement_events.yaml",
        "product_usage.yaml", "support_tickets.yaml"]
    assert (dest / "segment_templates/campaigns/account_tiers.yaml").read_bytes() == (
        ROOT / "segment_templates/campaigns/account_tiers.yaml").read_bytes()
    assert not list((dest / "segment_templates").glob("holi*"))
    # self-sufficient: its feature repo loads and its templates check against it
    check = cli(tmp_path / "ws", "--project", dest, "templates", "check")
    assert check.code == 0, check.out + check.err
    assert check.out.strip().endswith("ok: 6 templates, 1 campaigns")
