"""The quick-start demo, through the real CLI, without a model."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import CliRunner


def test_demo_follows_tags_through_commits(tmp_path: Path, cli: CliRunner) -> None:
    out = cli("demo", "--no-llm", "--json", "--keep", str(tmp_path / "kept"))
    assert out.code == 0, out.err
    data = out.json()
    assert data["llm_used"] is False and "cheap stages only" in data["llm"] and data["llm_asked"] == 0
    assert len(data["report"]["commits"]) == 4
    rows = {r["note"]: r for r in data["tags"]}
    legacy = rows["Remove once the 2019 contracts end."]
    assert (legacy["status"], legacy["after"]) == ("orphaned", None)
    assert legacy["journey"] and legacy["journey"][-1]["status"] == "orphaned"  # read from the history log
    stock = rows["Should be a domain error."]
    assert (stock["path_before"], stock["path"]) == ("inventory/stock.py", "inventory/warehouse.py")
    assert stock["after"] == stock["before"] and stock["status"] in ("moved", "anchored")
    call = rows["Hot path: called per line item."]
    assert call["after"] == "pricing.unit_price(item, quantity, CURRENCY) * quantity"
    loop = rows["Could this be a generator?"]
    assert loop["after"] == "for item, quantity in items:" and loop["method"] in ("diff", "search")
    discount = rows["Why 10%? Ask sales before changing."]
    assert discount["status"] in ("changed", "needs_review") and discount["after"] == "price * BULK_DISCOUNT"
    # the kept repository really has the commits and the tags on disk
    root = Path(data["root"])
    assert (root / "inventory" / "warehouse.py").is_file() and not (root / "inventory" / "stock.py").exists()
    # ... set up like a real one: the store committed (nothing left to commit), the hooks installed
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
    assert status.stdout == "" and (root / ".git" / "hooks" / "pre-commit").is_file()
    assert data["next"].startswith(f"try next: cd {root}")
    assert data["seconds"] < 30


def test_demo_table(cli: CliRunner) -> None:
    out = cli("demo", "--no-llm")  # not a terminal: one block per tag, never a squeezed table
    assert out.code == 0, out.err
    # places as path:line:col, before and after; each status step names its commit
    assert (
        "inventory/stock.py:15:13-15:63 -> inventory/warehouse.py:16:17-16:67: Should be a domain error."
        in out.out
    )
    assert "  after:  (gone)" in out.out and "-> orphaned (none 0.00, commit " in out.out
    assert "'Drop legacy_discount (the 2019 contracts ended)')" in out.out
    assert "4 commits" in out.out and "without a model" in out.out
    assert "│" not in out.out  # no table borders when piped
