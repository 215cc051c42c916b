"""Hostile files and values through the real CLI: each is refused at once with one clear line (no
traceback, no hang), and nothing outside the repository is touched.

- a FIFO at a tagged path (`add`, `list`, `show`, `retag`): never blocks;
- a sparse file far beyond the document limit: "too large", without reading it;
- metadata nested too deep, integers beyond 64 bits, NaN/Infinity (`add --meta`, `import`);
- a snapshot id that is a path (`../../etc/passwd`) in an import file;
- upper-case tag ids in an import file are stored in lower case.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from magicmarkup.documents import DOCUMENT_LIMIT
from tests.security.conftest import Run, assert_one_clean_line, fingerprint

SNAP = "9e26bf369911c45c243c684147b23fc9e1dcfcf257d299a1c632016a6fcd33f4"  # sha256("x = 1\n")


@pytest.fixture
def small_repo(repo: Path, run: Run) -> Path:
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    assert run("init").returncode == 0
    added = run("add", "a.py", "--lines", "1", "--note", "n")
    assert added.returncode == 0, added.stderr
    return repo


@pytest.fixture
def outside(tmp_path: Path, repo: Path, user_dir: Path):  # type: ignore[no-untyped-def]
    """Asserts, after the test, that nothing outside the repository (but the test's own input
    files, in tmp_path/inputs) changed."""
    home = Path(os.environ["HOME"])
    roots = [tmp_path, home]
    skip = [repo, tmp_path / "inputs"]
    before = fingerprint(roots, skip=skip)
    yield
    after = fingerprint(roots, skip=skip)
    assert after == before


def tag_record(**changes: object) -> dict[str, object]:
    tag: dict[str, object] = {
        "id": "01m8r3xzy5sa52rvh6712gbfn9",
        "path": "a.py",
        "span": {"start": 0, "end": 5},
        "anchor": {"text": "x = 1", "snapshot": SNAP},
        "metadata": {"note": "imported"},
    }
    tag.update(changes)
    return tag


def write_export(path: Path, *tags: dict[str, object], raw: str | None = None) -> Path:
    path = path.parent / "inputs" / path.name
    path.parent.mkdir(exist_ok=True)
    doc = {"schema_version": 2, "snapshots": {SNAP: "x = 1\n"}, "tags": list(tags)}
    path.write_text(raw if raw is not None else json.dumps(doc), encoding="utf-8")
    return path


def test_fifo_at_a_tagged_path_never_hangs(small_repo: Path, run: Run, outside: None) -> None:
    fifo = small_repo / "a.py"
    fifo.unlink()
    os.mkfifo(fifo)
    began = time.monotonic()
    assert_one_clean_line(run("add", "a.py", "--lines", "1", timeout=20), "a.py", "FIFO")
    listed = run("list", timeout=20)
    assert listed.returncode == 0 and "a.py" in listed.stdout  # the stored tags still list
    shown = run("list", "--json", timeout=20)
    assert shown.returncode == 0 and json.loads(shown.stdout)
    retag = run("retag", "--worktree", "--no-llm", timeout=20)
    assert retag.returncode == 1 and "a.py: is a FIFO" in retag.stdout + retag.stderr
    assert "Traceback" not in retag.stdout + retag.stderr
    assert time.monotonic() - began < 30


def test_other_special_files_are_refused(small_repo: Path, run: Run, outside: None) -> None:
    import socket

    sock_path = small_repo / "s.py"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        assert_one_clean_line(run("add", "s.py", "--lines", "1", timeout=20), "s.py", "socket")
    (small_repo / "d.py").mkdir()
    assert_one_clean_line(run("add", "d.py", "--lines", "1", timeout=20), "d.py", "directory")


def test_a_huge_sparse_document_is_refused_without_reading_it(
    small_repo: Path, run: Run, outside: None
) -> None:
    big = small_repo / "big.py"
    with big.open("wb") as fh:
        fh.truncate(DOCUMENT_LIMIT + 1)
    began = time.monotonic()
    assert_one_clean_line(run("add", "big.py", "--lines", "1", timeout=20), "big.py", "too large")
    assert time.monotonic() - began < 15


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (json.dumps(nested(40)), "nested deeper than 32"),
        (json.dumps({"a": {"b": nested(35)}}), "nested deeper than 32"),
        (str(1 << 70), "64 bits"),
        (str(-(1 << 64)), "64 bits"),
    ],
    ids=["deep-list", "deep-dict", "huge-int", "huge-negative"],
)
def test_bad_metadata_through_add(small_repo: Path, run: Run, outside: None, value: str, needle: str) -> None:
    result = run("add", "a.py", "--lines", "1", "--meta", f"evil={value}")
    assert result.returncode != 0
    assert "metadata key 'evil'" in result.stderr and needle in result.stderr
    assert "Traceback" not in result.stderr
    listed = json.loads(run("list", "--json").stdout)
    assert len(listed) == 1  # nothing was added


def test_bad_metadata_through_add_is_one_line(small_repo: Path, run: Run) -> None:
    result = run("add", "a.py", "--lines", "1", "--meta", f"evil={1 << 70}")
    assert_one_clean_line(result, "metadata key 'evil'", "64 bits")


@pytest.mark.parametrize("value", ["NaN", "1e999", "-Infinity", "1.10", "007"])
def test_meta_values_json_cannot_hold_exactly_stay_strings(small_repo: Path, run: Run, value: str) -> None:
    """`--meta x=NaN` was stored as null and `version=1.10` as 1.1: a value is typed only when
    typing keeps it as given."""
    added = run("add", "a.py", "--lines", "1", "--meta", f"x={value}", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["metadata"]["x"] == value


def test_metadata_within_limits_is_kept(small_repo: Path, run: Run) -> None:
    value = json.dumps({"deep": nested(31), "big": (1 << 64) - 1, "neg": -(1 << 63), "f": 1.5})
    added = run("add", "a.py", "--lines", "1", "--meta", f"ok={value}", "--json")
    assert added.returncode == 0, added.stderr


@pytest.mark.parametrize(
    ("raw_meta", "needle"),
    [
        ('{"evil": ' + "[" * 40 + "1" + "]" * 40 + "}", "nested deeper than 32"),
        ('{"evil": 123456789012345678901234567890}', "64 bits"),
        ('{"evil": NaN}', "NaN"),
        ('{"evil": Infinity}', "inf"),
    ],
    ids=["deep", "huge-int", "nan", "infinity"],
)
def test_bad_metadata_through_import(
    small_repo: Path, run: Run, tmp_path: Path, raw_meta: str, needle: str, outside: None
) -> None:
    base = json.dumps(tag_record(metadata={"x": "PLACEHOLDER"}))
    raw = base.replace('{"x": "PLACEHOLDER"}', raw_meta)
    export = write_export(
        tmp_path / "evil.json", raw=json.dumps({"schema_version": 2, "tags": []})[:-2] + raw + "]}"
    )
    line = assert_one_clean_line(run("import", str(export)), needle)
    assert "evil" in line
    assert len(json.loads(run("list", "--json").stdout)) == 1


@pytest.mark.parametrize(
    "snapshot", ["../../etc/passwd", "/etc/passwd", SNAP.upper(), SNAP[:-1], SNAP + "/../x"]
)
def test_snapshot_id_traversal_through_import(
    small_repo: Path, run: Run, tmp_path: Path, snapshot: str, outside: None
) -> None:
    export = write_export(tmp_path / "evil.json", tag_record(anchor={"text": "x = 1", "snapshot": snapshot}))
    assert_one_clean_line(run("import", str(export)), "anchor.snapshot")
    history = tag_record(
        history=[
            {
                "old_span": {"start": 0, "end": 5},
                "status": "anchored",
                "method": "manual",
                "confidence": 1.0,
                "from_snapshot": snapshot,
            }
        ]
    )
    assert_one_clean_line(run("import", str(write_export(tmp_path / "evil2.json", history))), "from_snapshot")
    assert len(json.loads(run("list", "--json").stdout)) == 1


@pytest.mark.parametrize("tag_id", ["../../x", "a/b", "", "x" * 65, "ünïcode", "a b"])
def test_bad_tag_ids_through_import(
    small_repo: Path, run: Run, tmp_path: Path, tag_id: str, outside: None
) -> None:
    export = write_export(tmp_path / "evil.json", tag_record(id=tag_id))
    assert_one_clean_line(run("import", str(export)), "id")


def test_upper_case_ids_are_normalised(small_repo: Path, run: Run, tmp_path: Path) -> None:
    export = write_export(tmp_path / "t.json", tag_record(id="01M8R3XZY5SA52RVH6712GBFN9"))
    imported = run("import", str(export))
    assert imported.returncode == 0, imported.stderr
    ids = [t["id"] for t in json.loads(run("list", "--json").stdout)]
    assert "01m8r3xzy5sa52rvh6712gbfn9" in ids
