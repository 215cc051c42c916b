"""A small repository for the export tests: plain notes, hostile notes, metadata, code and a
hostile file name, a tour, and tags that became `needs_review` and `orphaned` over a real commit.
Built with the library (fast; the CLI is tested on top of it by the tests themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from magicmarkup.store import Store
from magicmarkup.tags import add_tag, list_tags
from magicmarkup.tours import Tour, TourStep, save_tour
from tests.conftest import git

# Everything a note, a metadata value, a path, code or a tour could carry to run script.
HOSTILE_NOTE = (
    "<script>window.__pwned = 1</script> "
    "[click me](javascript:window.__pwned=3) "
    '<img src="x" onerror="window.__pwned=2"> '
    '<a href="javascript:window.__pwned=4">raw link</a> **still markdown**'
)
HOSTILE_PATH = "src/<img src=x onerror=window.__pwned=5>.py"
HOSTILE_CODE = (
    'PAYLOAD = "</pre></td><script>window.__pwned = 6</script>"\n\n\ndef payload():\n    return PAYLOAD\n'
)

ALPHA = """def alpha(items):
    total = 0
    for item in items:
        total += item.price
    return total


def beta(rows):
    return len(rows)


def gamma(x):
    return x * 2
"""
ALPHA_AFTER = """def alpha2(things):
    return sum(t.cost for t in things)


def beta(rows):
    total = len(rows)
    return total


def delta(rows):
    total = 1
    return total
"""
PRICES = "".join(f"RATE_{i} = {i} / 100  # rate number {i}\n" for i in range(1, 61)) + (
    "\n\ndef price(qty, rate):\n    # unique-marker-zebra\n    return qty * rate\n"
)


@dataclass
class ExportRepo:
    root: Path
    store: Store
    hostile_id: str
    price_id: str
    review_ids: list[str]
    path_id: str


def build(root: Path) -> ExportRepo:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "commit.gpgsign", "false")
    (root / "src").mkdir()
    (root / "src" / "alpha.py").write_text(ALPHA, encoding="utf-8")
    (root / "src" / "prices.py").write_text(PRICES, encoding="utf-8")
    (root / HOSTILE_PATH).write_text(HOSTILE_CODE, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "code")
    store = Store.init(root)
    review = [
        add_tag(store, "src/alpha.py", match="    return total", note="the running total is returned").id,
        add_tag(store, "src/alpha.py", match="def gamma(x):\n    return x * 2", note="doubles").id,
    ]
    add_tag(store, "src/alpha.py", match="def beta(rows):", note="counts the rows")
    price = add_tag(
        store,
        "src/prices.py",
        match="return qty * rate",
        note="Why **not** Decimal? (unique-note-walrus)",
        metadata={"author": "ana", "ticket": "<b onmouseover=window.__pwned=7>T-1</b>"},
    ).id
    for i in (5, 25, 45):
        add_tag(store, "src/prices.py", lines=(i, i), note=f"rate {i} comes from the tariff of {i}")
    hostile = add_tag(store, "src/prices.py", lines=(60, 60), note=HOSTILE_NOTE, metadata={"<x>": "<y>"}).id
    path_tag = add_tag(store, HOSTILE_PATH, match="return PAYLOAD", note="a file name with markup in it").id
    save_tour(
        store,
        "walk",
        Tour(
            title="A walk <script>window.__pwned=8</script>",
            description="Prices first, then <b>alpha</b>.",
            steps=[
                TourStep(text="Start here. <img src=x onerror=window.__pwned=9>"),
                TourStep(tag=price),
                TourStep(tag=hostile),
                TourStep(text="The folder.", directory="src"),
                TourStep(tag=review[0]),
            ],
        ),
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "notes")
    (root / "src" / "alpha.py").write_text(ALPHA_AFTER, encoding="utf-8")
    git(root, "commit", "-q", "-am", "rewrite alpha")
    return ExportRepo(root, store, hostile, price, review, path_tag)


def statuses(store: Store) -> dict[str, str]:
    return {t.id: t.status.value for t in list_tags(store)}
