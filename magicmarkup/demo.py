"""The guided demo: annotate a copy of `data/demo`, edit it like a programmer would, and show
where every tag went. It uses only the public library API, like any other client."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from magicmarkup import tags as tagapi
from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Tag
from magicmarkup.retag import RetagReport, retag_worktree
from magicmarkup.store import Store

DEMO_SOURCE = Path(__file__).resolve().parent.parent / "data" / "demo"

# (path, text to tag, note)
DEMO_TAGS: list[tuple[str, str, str]] = [
    ("inventory/pricing.py", 'price * Decimal("0.9")', "Why 10%? Ask sales before changing."),
    ("inventory/pricing.py", "unit_price(item, quantity) * quantity", "Hot path: called per line item."),
    ("inventory/pricing.py", "for item, quantity in items:", "Could this be a generator?"),
    (
        "inventory/pricing.py",
        'def legacy_discount(price):\n    # Kept for the 2019 contracts only.\n    return price - Decimal("5")',
        "Remove once the 2019 contracts end.",
    ),
    (
        "inventory/stock.py",
        'raise ValueError(f"only {available} of {sku} left")',
        "Should be a domain error.",
    ),
]


@dataclass
class Edit:
    description: str
    apply: Callable[[Path], None]


def _replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def run(root: Path) -> None:
        file = root / rel
        text = file.read_text(encoding="utf-8")
        if old not in text:
            raise MagicMarkupError(f"demo script: {old!r} not in {rel}")
        file.write_text(text.replace(old, new, 1), encoding="utf-8")

    return run


DEMO_EDITS: list[Edit] = [
    Edit(
        "insert imports and a constant above everything in pricing.py",
        _replace(
            "inventory/pricing.py",
            "from decimal import Decimal\n",
            'import logging\nfrom decimal import Decimal\n\nlog = logging.getLogger(__name__)\nCURRENCY = "EUR"\n',
        ),
    ),
    Edit(
        "refactor the tagged call into a method call with a new argument",
        _replace(
            "inventory/pricing.py",
            "total += unit_price(item, quantity) * quantity",
            "total += pricing.unit_price(item, quantity, CURRENCY) * quantity",
        ),
    ),
    Edit(
        "rename the bulk discount constant inside the tagged expression",
        _replace("inventory/pricing.py", 'price = price * Decimal("0.9")', "price = price * BULK_DISCOUNT"),
    ),
    Edit(
        "delete the legacy function",
        _replace(
            "inventory/pricing.py",
            '\n\ndef legacy_discount(price):\n    # Kept for the 2019 contracts only.\n    return price - Decimal("5")\n',
            "\n",
        ),
    ),
    Edit(
        "wrap the reservation check in a lock",
        _replace(
            "inventory/stock.py",
            '        available = self.levels.get(sku, 0)\n        if count > available:\n            raise ValueError(f"only {available} of {sku} left")\n',
            '        with self.lock:\n            available = self.levels.get(sku, 0)\n            if count > available:\n                raise ValueError(f"only {available} of {sku} left")\n',
        ),
    ),
]


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=demo", "-c", "user.email=demo@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def setup(workdir: Path) -> tuple[Store, list[Tag]]:
    """Copy the demo project into `workdir` (a git repository) and tag it."""
    if not DEMO_SOURCE.is_dir():
        raise MagicMarkupError(
            f"{DEMO_SOURCE}: demo project not found (install magicmarkup from its source checkout)"
        )
    root = workdir / "inventory-demo"
    shutil.copytree(DEMO_SOURCE, root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "demo project")
    store = Store.init(root)
    made = [tagapi.add_tag(store, path, match=text, note=note) for path, text, note in DEMO_TAGS]
    return store, made


def run(
    workdir: Path, resolver: Resolver | None, thresholds: Thresholds | None = None
) -> tuple[Store, list[Tag], RetagReport]:
    """Set up, apply every scripted edit, and re-anchor; returns the tags before and the report."""
    store, before = setup(workdir)
    for edit in DEMO_EDITS:
        edit.apply(store.root)
    report = retag_worktree(store, resolver=resolver, thresholds=thresholds)
    return store, before, report
