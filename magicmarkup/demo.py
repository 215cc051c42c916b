"""The guided demo: annotate a copy of `data/demo` in a fresh git repository, change it like a
programmer would over a few commits (insertions above, a rename, a refactored call, a deleted
function), retag through the commits, and show where every tag went. It uses only the public
library API (tags, git), like any other client."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from magicmarkup import tags as tagapi
from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.errors import MagicMarkupError
from magicmarkup.git import RangeReport, retag_range
from magicmarkup.model import Tag
from magicmarkup.store import Store

DEMO_SOURCE = Path(__file__).resolve().parent.parent / "data" / "demo"

PRICING = "inventory/pricing.py"
STOCK = "inventory/stock.py"
WAREHOUSE = "inventory/warehouse.py"

# (path, text to tag, note)
DEMO_TAGS: list[tuple[str, str, str]] = [
    (PRICING, 'price * Decimal("0.9")', "Why 10%? Ask sales before changing."),
    (PRICING, "unit_price(item, quantity) * quantity", "Hot path: called per line item."),
    (PRICING, "for item, quantity in items:", "Could this be a generator?"),
    (
        PRICING,
        'def legacy_discount(price):\n    # Kept for the 2019 contracts only.\n    return price - Decimal("5")',
        "Remove once the 2019 contracts end.",
    ),
    (STOCK, 'raise ValueError(f"only {available} of {sku} left")', "Should be a domain error."),
]


@dataclass
class Edit:
    description: str
    apply: Callable[[Path], None]


@dataclass
class Commit:
    """One scripted commit: real edits (renames with `git mv`), then a commit of them."""

    message: str
    edits: list[Edit]


def _replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def run(root: Path) -> None:
        file = root / rel
        text = file.read_text(encoding="utf-8")
        if old not in text:
            raise MagicMarkupError(f"demo script: {old!r} not in {rel}")
        file.write_text(text.replace(old, new, 1), encoding="utf-8")

    return run


def _rename(old: str, new: str) -> Callable[[Path], None]:
    def run(root: Path) -> None:
        _git(root, "mv", old, new)

    return run


DEMO_COMMITS: list[Commit] = [
    Commit(
        "Log prices and name the currency",
        [
            Edit(
                "insert imports and a constant above everything in pricing.py",
                _replace(
                    PRICING,
                    "from decimal import Decimal\n",
                    "import logging\nfrom decimal import Decimal\n\n"
                    'log = logging.getLogger(__name__)\nCURRENCY = "EUR"\n',
                ),
            )
        ],
    ),
    Commit(
        "Move stock.py to warehouse.py; lock reservations",
        [
            Edit("rename inventory/stock.py to inventory/warehouse.py", _rename(STOCK, WAREHOUSE)),
            Edit(
                "wrap the reservation check in a lock (same commit as the rename)",
                _replace(
                    WAREHOUSE,
                    "        available = self.levels.get(sku, 0)\n        if count > available:\n"
                    '            raise ValueError(f"only {available} of {sku} left")\n',
                    "        with self.lock:\n            available = self.levels.get(sku, 0)\n"
                    "            if count > available:\n"
                    '                raise ValueError(f"only {available} of {sku} left")\n',
                ),
            ),
        ],
    ),
    Commit(
        "Price line items through the pricing service",
        [
            Edit(
                "refactor the tagged call into a method call with a new argument",
                _replace(
                    PRICING,
                    "total += unit_price(item, quantity) * quantity",
                    "total += pricing.unit_price(item, quantity, CURRENCY) * quantity",
                ),
            ),
            Edit(
                "rename the bulk discount constant inside the tagged expression",
                _replace(PRICING, 'price = price * Decimal("0.9")', "price = price * BULK_DISCOUNT"),
            ),
        ],
    ),
    Commit(
        "Drop legacy_discount (the 2019 contracts ended)",
        [
            Edit(
                "delete the legacy function",
                _replace(
                    PRICING,
                    "\n\ndef legacy_discount(price):\n    # Kept for the 2019 contracts only.\n"
                    '    return price - Decimal("5")\n',
                    "\n",
                ),
            )
        ],
    ),
]

# Every scripted edit, in order (for callers that only describe them).
DEMO_EDITS: list[Edit] = [edit for commit in DEMO_COMMITS for edit in commit.edits]


def _git_out(root: Path, *args: str) -> str:
    """git with a fixed identity and without the user's hooks or signing (a throwaway repo)."""
    command = [
        "git",
        "-c",
        "user.name=demo",
        "-c",
        "user.email=demo@example.invalid",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "core.hooksPath=.git/no-hooks",
        *args,
    ]
    try:
        proc = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise MagicMarkupError("demo: git is not installed (the demo builds a git repository)") from None
    except subprocess.CalledProcessError as exc:
        raise MagicMarkupError(f"demo: git {args[0]} failed: {exc.stderr.strip()}") from None
    return proc.stdout.strip()


def _git(root: Path, *args: str) -> None:
    _git_out(root, *args)


def setup(workdir: Path) -> tuple[Store, list[Tag]]:
    """Copy the demo project into `workdir` (a new git repository, one commit) and tag it."""
    if not DEMO_SOURCE.is_dir():
        raise MagicMarkupError(
            f"{DEMO_SOURCE}: demo project not found (install magicmarkup from its source checkout)"
        )
    root = workdir / "inventory-demo"
    if root.exists():
        raise MagicMarkupError(f"{root}: already exists; choose an empty --keep directory")
    shutil.copytree(DEMO_SOURCE, root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "demo project")
    store = Store.init(root)
    made = [tagapi.add_tag(store, path, match=text, note=note) for path, text, note in DEMO_TAGS]
    return store, made


def commit_all(store: Store) -> list[str]:
    """Apply and commit every scripted change; returns the new commit ids."""
    shas = []
    for commit in DEMO_COMMITS:
        for edit in commit.edits:
            edit.apply(store.root)
        _git(store.root, "add", "-A", "--", "inventory")
        _git(store.root, "commit", "-q", "-m", commit.message)
        shas.append(_git_out(store.root, "rev-parse", "HEAD"))
    return shas


def make_real(store: Store) -> str:
    """Set the kept demo repository up as a real one: the tags' store committed (published from
    the pending area, as the pre-commit hook does) and the hooks installed; returns a line
    saying what to try next."""
    import sys

    from magicmarkup.git import install_hooks
    from magicmarkup.publish import publish

    publish(store)
    _git(store.root, "commit", "-q", "-m", "magicmarkup: the demo's tags")
    install_hooks(store.root, [sys.executable, "-m", "magicmarkup"], ["--no-llm"])
    return (
        f"try next: cd {store.root} && magicmarkup list, edit {PRICING} (add lines above a tag), "
        "then `git commit -am ...` (the hook re-pins the tags) and `magicmarkup list` again"
    )


def run(
    workdir: Path, resolver: Resolver | None, thresholds: Thresholds | None = None
) -> tuple[Store, list[Tag], RangeReport]:
    """Set up, commit every scripted change, and retag through the commits (git retag)."""
    store, before = setup(workdir)
    base = _git_out(store.root, "rev-parse", "HEAD")
    commit_all(store)
    report = retag_range(store, f"{base}..HEAD", resolver, thresholds)
    return store, before, report
