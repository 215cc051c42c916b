"""The LLM-written generator: its validator on replies recorded from the real local model
(Qwen2.5-Coder-1.5B), and the whole pipeline against a real local HTTP server that replays them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from benchmark_gen.cases import read_cases
from benchmark_gen.llm_written import (
    Invalid,
    mark_snippet,
    plans,
    rejected_path,
    run_pipeline,
    strip_fences,
    unmark,
    validate,
)
from benchmark_gen.prompts import DELIMITER
from tests.conftest import CliRunner

FIXTURES = Path(__file__).parent / "fixtures" / "llm_written"


def _records(pattern: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted(FIXTURES.glob(pattern)):
        out.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return out


def test_strip_fences() -> None:
    assert strip_fences("```python\nx = 1\n```\nExplanation...") == "x = 1\n"
    assert strip_fences("x = 1\n") == "x = 1\n"
    assert strip_fences("Sure!\n```\na()\nb()\n") == "a()\nb()\n"  # unterminated fence
    assert strip_fences("```\n```") == ""


def test_mark_snippet_and_unmark() -> None:
    program = "total = 0\nfor x in items:\n    total += x;\nprint(total)\n"
    marked = mark_snippet(program, "```\ntotal += x\n```")
    assert marked.count(DELIMITER) == 2
    text, start, end = unmark(marked, "old program")
    assert text == program and text[start:end] == "total += x"
    # A trailing semicolon the model added is forgiven; the first occurrence is marked.
    assert unmark(mark_snippet("a()\na()\n", "a();"), "x")[1:] == (0, 3)
    with pytest.raises(Invalid, match="not found"):
        mark_snippet(program, "total -= x")
    # A multi-line snippet the model copied without its indentation is still found.
    text, start, end = unmark(mark_snippet(program, "for x in items:\ntotal += x;"), "old program")
    assert text[start:end] == "for x in items:\n    total += x;"
    with pytest.raises(Invalid, match="empty snippet"):
        mark_snippet(program, "```\n\n```")
    with pytest.raises(Invalid, match="3 delimiters"):
        unmark(f"{DELIMITER}a{DELIMITER}b{DELIMITER}", "new program")
    with pytest.raises(Invalid, match="marked text is empty"):
        unmark(f"a{DELIMITER}  {DELIMITER}b", "new program")


def test_validate_rejects_identical_programs() -> None:
    marked = f"x = 1\n{DELIMITER}y = 2{DELIMITER}\n"
    steps = {"old_marked": marked, "updated": f"```\n{marked}```"}
    with pytest.raises(Invalid, match="identical"):
        validate("id", "python", "variable_assignment", False, steps)


def test_validate_rejects_a_different_program() -> None:
    """The model's "update" of a whole class was one statement (seen with the 1.5B model)."""
    old = (
        "class Account:\n    def __init__(self, start):\n        "
        + DELIMITER
        + "self.balance = start"
        + DELIMITER
    )
    old += "\n\n    def deposit(self, amount):\n        self.balance += amount\n        return self.balance\n"
    steps = {"old_marked": old, "updated": f"```\n{DELIMITER}self.balance += amount * 1.05{DELIMITER}\n```"}
    with pytest.raises(Invalid, match="keeps 0% of the original's lines"):
        validate("id", "python", "variable_assignment", False, steps)
    kept = old.replace("self.balance += amount", "self.balance += amount * 1.05")
    assert validate("id", "python", "variable_assignment", False, {"old_marked": old, "updated": kept})


def test_validate_rejects_markers_moved_off_unchanged_code() -> None:
    """The tagged constant's line is untouched, but the rewrite marks a loop added below it
    (seen with the 1.5B model): such an answer key would reward a wrong placement."""
    D = DELIMITER
    old = f'prices = {{\n    "apple": {D}0.5{D},\n    "pear": 0.3,\n}}\ntotal = sum(prices.values())\n'
    moved = (
        'prices = {\n    "apple": 0.5,\n    "pear": 0.3,\n}\ntotal = sum(prices.values())\n'
        f"{D}for name in extra:\n    total += extra[name]{D}\n"
    )
    with pytest.raises(Invalid, match="still there unchanged"):
        validate("id", "python", "constant", False, {"old_marked": old, "updated": moved})
    edited = old.replace(f"{D}0.5{D}", f"{D}0.55{D}") + "print(total)\n"
    assert validate("id", "python", "constant", False, {"old_marked": old, "updated": edited})
    # the old line kept, markers on it (the snippet unchanged): a valid case
    kept = old + "print(total)\n"
    assert validate("id", "python", "constant", False, {"old_marked": old, "updated": kept})


def test_validator_on_recorded_valid_outputs() -> None:
    """Each recorded valid case is rebuilt exactly from the model's recorded replies."""
    cases = read_cases(sorted(FIXTURES.glob("*_valid.jsonl")))
    assert cases, "record fixtures with `bench generate-llm` first"
    for case in cases:
        steps = case.meta["steps"]
        assert mark_snippet(strip_fences(steps["program"]), steps["snippet"]) == steps["old_marked"]
        again = validate(
            case.id,
            case.language or "",
            case.meta["snippet_type"],
            case.meta["update_kind"] == "partial",
            steps,
            case.meta["seed"],
        )
        assert again.model_dump() == case.model_dump()
        assert case.expected_piece and case.old_piece and case.old_text != case.new_text


def test_validator_on_recorded_rejected_outputs() -> None:
    """Recorded invalid replies are rejected, with the reason the run logged."""
    records = _records("*_rejected.jsonl")
    assert records
    for rec in records:
        steps = rec["steps"]
        expect = rec.get("expect", rec["reason"])
        with pytest.raises(Invalid) as err:
            code = strip_fences(steps["program"])
            old_marked = mark_snippet(code, steps.get("snippet", ""))
            validate(
                rec["id"], rec["language"], rec["snippet_type"], False, {**steps, "old_marked": old_marked}
            )
        assert str(err.value) == expect


# --- the pipeline, against a real local HTTP server replaying recorded replies ----------------


class ReplayServer:
    """A real HTTP server on 127.0.0.1 speaking the chat-completions protocol; it answers each
    of the five steps with a reply recorded from the real model (or HTTP 500 on request)."""

    def __init__(self, steps: dict[str, str]) -> None:
        self.steps = steps
        self.fail_programs = 0
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                owner.requests += 1
                key = (
                    "problem"
                    if prompt.startswith("Invent")
                    else "program"
                    if prompt.startswith("Write a complete")
                    else "snippet"
                    if "Copy exactly one snippet" in prompt
                    else "updated"
                    if "Rewrite the whole program" in prompt
                    else "update"
                )
                if key == "program" and owner.fail_programs > 0:
                    owner.fail_programs -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                reply = owner.steps[key]
                data = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply},
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    case = read_cases(sorted(FIXTURES.glob("*_valid.jsonl")))[0]
    server = ReplayServer(case.meta["steps"])
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_pipeline_end_to_end_and_resume(replay: ReplayServer, tmp_path: Path) -> None:
    out = tmp_path / "llm.jsonl"
    client = openai.AsyncOpenAI(base_url=replay.url, api_key="local", max_retries=0, timeout=30)
    replay.fail_programs = 1
    seen: list[tuple[int, int]] = []
    first = run_pipeline(
        client,
        "replay",
        n=4,
        languages=["python"],
        snippet_types=["constant"],
        output=out,
        seed=3,
        concurrency=2,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert first.valid == 3 and first.invalid == 1 and seen[-1] == (4, 4)
    assert any(r.startswith("endpoint error") for r in first.reasons)
    assert not rejected_path(out).exists()  # transport faults are retried, not recorded as invalid
    cases = read_cases([out])
    assert len(cases) == 3
    for case in cases:
        assert case.meta["generator"] == "llm_written" and case.meta["steps"]["problem"]
        assert case.expected_piece is not None and DELIMITER not in case.new_text
    client2 = openai.AsyncOpenAI(base_url=replay.url, api_key="local", max_retries=0, timeout=30)
    second = run_pipeline(
        client2,
        "replay",
        n=4,
        languages=["python"],
        snippet_types=["constant"],
        output=out,
        seed=3,
        concurrency=2,
    )
    assert second.skipped == 3 and second.valid == 1
    assert sorted(c.id for c in read_cases([out])) == [
        p.case_id for p in plans(4, ["python"], ["constant"], 3)
    ]


def test_pipeline_records_invalid_replies(replay: ReplayServer, tmp_path: Path) -> None:
    replay.steps = {**replay.steps, "snippet": "```\nthis_is_not_in_the_program()\n```"}
    out = tmp_path / "llm.jsonl"
    client = openai.AsyncOpenAI(base_url=replay.url, api_key="local", max_retries=0, timeout=30)
    result = run_pipeline(
        client, "replay", n=2, languages=["go"], snippet_types=["function_call"], output=out
    )
    assert result.valid == 0 and result.reasons == {"step 3: snippet not found in the program": 2}
    rejected = [json.loads(x) for x in rejected_path(out).read_text().splitlines()]
    assert {r["id"] for r in rejected} == {"llm-0-0000", "llm-0-0001"}
    again = run_pipeline(client, "replay", n=2, languages=["go"], snippet_types=["function_call"], output=out)
    assert again.skipped == 2 and replay.requests == 8  # 3 steps + 1 retry each, nothing on the rerun


def test_generate_llm_cli_against_an_openai_compatible_url(
    replay: ReplayServer, mm: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", replay.url)
    monkeypatch.setenv("OPENAI_API_KEY", "local")
    out = tmp_path / "llm.jsonl.gz"
    r = mm(
        "bench",
        "generate-llm",
        "--n",
        "2",
        "--languages",
        "rust",
        "--snippet-types",
        "constant",
        "-o",
        str(out),
        "--json",
    )
    assert r.code == 0, r.err
    assert r.json()["valid"] == 2 and len(read_cases([out])) == 2
    r = mm("bench", "generate-llm", "--n", "2", "-o", str(out), "--snippet-types", "nonsense")
    assert r.code == 1 and "unknown snippet type" in r.err


def test_mark_snippet_unique_refuses_an_ambiguous_copy() -> None:
    """The step-5 fallback places the markers only where the model's copy is unambiguous."""
    from benchmark_gen.llm_written import Invalid, mark_snippet

    program = "x = f(1)\ny = f(1)\nz = g(2)\n"
    assert (
        mark_snippet(program, "```\ng(2)\n```", unique=True, step="step 5")
        == "x = f(1)\ny = f(1)\nz = @@@g(2)@@@\n"
    )
    with pytest.raises(Invalid, match="step 5: the snippet occurs 2 times"):
        mark_snippet(program, "f(1)", unique=True, step="step 5")
