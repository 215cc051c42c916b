"""A store written by a foreign tool (compact JSON pins, its own key order) loads, lists and takes
one `add` that writes one pin: a write touches only the pins it changes (issue 23, item 7).

The full-size measurement (100,000 pins: add < 1 s, list < 5 s, < 500 MB) is
`magicmarkup bench perf store`; this runs the same builder at 2,000 pins.
"""

from __future__ import annotations

from pathlib import Path

from benchmark_gen.perf_store import build
from tests.conftest import CliRunner, git

PINS, FILES = 2_000, 10


def pin_bytes(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in (root / ".magicmarkup" / "pins").rglob("*.json")}


def test_a_foreign_store_lists_and_an_add_writes_one_pin(tmp_path: Path, cli: CliRunner) -> None:
    root = tmp_path / "big"
    build(root, PINS, FILES)
    before = pin_bytes(root)
    assert len(before) == PINS and all(not data.endswith(b"\n") for data in before.values())
    listed = cli("list", "--json", cwd=root)
    assert listed.code == 0, listed.err
    assert len(listed.json()) == PINS and {t["status"] for t in listed.json()} == {"anchored"}
    target = "src/pkg0/module_0.py"
    added = cli("add", target, "--match", "value_0 = compute(0", "--note", "mine", "--json", cwd=root)
    assert added.code == 0, added.err
    new_pin = f".magicmarkup/pins/{target}/{added.json()['id']}.json"
    # the snapshot of the document is already there: the one new file is the new pin
    assert git(root, "status", "--porcelain", "--untracked-files=all").splitlines() == [f"?? {new_pin}"]
    assert {p: d for p, d in pin_bytes(root).items() if p in before} == before
    # an edit of one foreign pin rewrites that pin (and appends to its history log), no other
    some = next(p for p in before if target in p.as_posix())
    edited = cli("edit", some.stem, "--note", "changed", cwd=root)
    assert edited.code == 0, edited.err
    changed = [p for p, d in before.items() if p.read_bytes() != d]
    assert changed == [some]
    assert len(cli("list", "--json", cwd=root).json()) == PINS + 1
    doctor = cli("doctor", "--json", cwd=root)
    assert doctor.code == 0, doctor.out + doctor.err
    assert {p: d for p, d in pin_bytes(root).items() if p in before and p != some} == {
        p: d for p, d in before.items() if p != some
    }
