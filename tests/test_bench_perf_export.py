"""`bench perf export` builds what it claims to measure: a committed repository whose tags moved,
changed and were orphaned, with a tour; one export of it, in this process, at a small scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark_gen.perf_export import build
from magicmarkup.export_html import export_html
from magicmarkup.store import Store
from magicmarkup.tags import list_tags
from magicmarkup.tours import load_tours


def test_the_export_benchmark_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = build(tmp_path / "repo", files=10, tags=50)
    store = Store.discover(tmp_path / "repo")
    tags = list_tags(store)
    assert len(files) == 10 and len(tags) == 50
    statuses = {t.status.value for t in tags}
    assert "orphaned" in statuses or "needs_review" in statuses  # a tagged function was deleted
    assert statuses & {"moved", "changed"}  # lines were inserted above every tag
    tours, problems = load_tours(store)
    assert problems == [] and len(tours["walkthrough"].steps) == 10
    result = export_html(store, tmp_path / "site")
    assert (result.tags, result.files, result.tours, result.pages) == (50, 10, 1, 12)
    # the pages written by worker processes are the pages written in this one
    monkeypatch.setattr("magicmarkup.export_html.PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr("magicmarkup.export_html._workers", lambda: 2)
    export_html(store, tmp_path / "site-parallel")
    serial = {p.name: p.read_bytes() for p in (tmp_path / "site" / "files").iterdir()}
    parallel = {p.name: p.read_bytes() for p in (tmp_path / "site-parallel" / "files").iterdir()}
    assert len(serial) == 10 and serial == parallel
