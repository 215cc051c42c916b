"""`magicmarkup bench generate` and `bench score` end to end, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark_gen.cases import read_cases
from tests.conftest import CliRunner
from tests.test_bench_edits import GO, JS, RUST

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small corpus of real code: this project's anchoring package, plus small programs."""
    root = tmp_path / "corpus"
    shutil.copytree(ROOT / "magicmarkup" / "anchoring", root / "anchoring")
    (root / "shop.js").write_text(JS, encoding="utf-8")
    (root / "shop.go").write_text(GO, encoding="utf-8")
    (root / "shop.rs").write_text(RUST, encoding="utf-8")
    return root


def test_generate_is_deterministic_and_scored(mm: CliRunner, corpus: Path, tmp_path: Path) -> None:
    out1, out2, out3 = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz", tmp_path / "c.jsonl.gz"
    r = mm(
        "bench",
        "generate",
        "--corpus",
        f"mini={corpus}",
        "--n",
        "16",
        "--seed",
        "5",
        "-o",
        str(out1),
        "--json",
    )
    assert r.code == 0, r.err
    info = r.json()
    assert info["written"] == 16
    assert set(info["by_language"]) >= {"python", "javascript"}
    assert (
        mm(
            "bench", "generate", "--corpus", f"mini={corpus}", "--n", "16", "--seed", "5", "-o", str(out2)
        ).code
        == 0
    )
    assert out1.read_bytes() == out2.read_bytes()
    assert (
        mm(
            "bench", "generate", "--corpus", f"mini={corpus}", "--n", "16", "--seed", "6", "-o", str(out3)
        ).code
        == 0
    )
    assert out1.read_bytes() != out3.read_bytes()

    cases = read_cases([out1])
    for case in cases:
        assert case.meta["source"]["corpus"] == "mini"
        assert (corpus / case.meta["source"]["path"]).is_file()
        assert case.meta["category"] and case.meta["snippet_type"]
        assert case.new_text != case.old_text
        if case.expected_piece is not None:
            assert case.expected_piece.strip()

    preds, plot = tmp_path / "pred.jsonl", tmp_path / "chart.png"
    r = mm(
        "bench", "score", str(out1), "--no-llm", "--json", "--predictions", str(preds), "--plot", str(plot)
    )
    assert r.code == 0, r.err
    summary = r.json()
    assert summary["n"] == 16
    for key in (
        "accuracy",
        "exact_accuracy",
        "iou",
        "orphan_precision",
        "orphan_recall",
        "llm_calls_per_case",
        "tokens_per_case",
        "latency_ms",
        "by_category",
        "by_language",
        "failures",
    ):
        assert key in summary
    assert 0.0 <= summary["accuracy"] <= 1.0
    assert summary["llm_calls_per_case"] == 0
    assert sum(v["n"] for v in summary["by_category"].values()) == 16
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert [x["id"] for x in lines] == [c.id for c in cases]
    for x in lines:
        assert set(x) >= {"id", "start", "end", "status", "confidence", "method", "llm_calls", "ms"}
        assert (x["start"] is None) == (x["status"] == "orphaned")
    assert sorted(x["id"] for x in lines if not x["correct"]) == sorted(summary["failures"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_score_table_limit_and_malformed_line(mm: CliRunner, corpus: Path, tmp_path: Path) -> None:
    gz = tmp_path / "cases.jsonl.gz"
    assert (
        mm("bench", "generate", "--corpus", str(corpus), "--n", "6", "--seed", "1", "-o", str(gz)).code == 0
    )
    plain = tmp_path / "cases.jsonl"
    good = [c.to_json_line() for c in read_cases([gz])]
    plain.write_text("\n".join([good[0], "{broken", *good[1:]]) + "\n", encoding="utf-8")
    r = mm("bench", "score", str(plain), "--no-llm", "--limit", "4")
    assert r.code == 0, r.err
    assert f"{plain}:2" in r.err.replace("\n", "")
    assert "accuracy by category" in r.out and "cases" in r.out
    r = mm("bench", "score", str(plain), "--no-llm", "--limit", "4", "--json")
    assert r.json()["n"] == 4 and len(r.json()["malformed"]) == 1


def test_score_errors_are_one_line(mm: CliRunner, tmp_path: Path) -> None:
    r = mm("bench", "score", str(tmp_path / "none.jsonl"), "--no-llm")
    assert r.code == 1 and "no such case file" in r.err and "Traceback" not in r.err
    r = mm(
        "bench", "generate", "--corpus", str(tmp_path / "nope"), "--n", "3", "-o", str(tmp_path / "x.jsonl")
    )
    assert r.code == 1 and "corpus directory not found" in r.err
