"""The real-history generator on hand-made releases (real files, real tree-sitter, no network),
and the scorer's honesty figures on hand-built predictions whose answers are known."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from pathlib import Path

import pytest

from benchmark_gen.cases import BenchError, Case
from benchmark_gen.realhistory import Parsed, Project, definitions, generate, project_cases, read_release
from benchmark_gen.report import chain_summary, expected_calibration_error, reliability, summarize
from benchmark_gen.scorer import Prediction, score_cases, score_suite, split_chains
from tests.conftest import CliRunner

V1 = """import os


def first(values):
    cleaned_values = [v for v in values if v is not None]
    return cleaned_values


def parse(text):
    items = []
    for line in text.splitlines():
        cleaned_line = line.strip().lower()
        items.append(cleaned_line)
    total_count = len(items) + 0
    return items


def render(items):
    header = "<ul>" + "".join(items)
    body_text = "\\n".join("<li>%s</li>" % i for i in items)
    return header + body_text


def obsolete_helper(a, b):
    return sorted(set(a) ^ set(b), key=lambda x: (len(x), x))


class Store:
    def load(self, path):
        with open(path) as fh:
            return fh.read()

    def save(self, path, data):
        tmp_name = path + ".tmp"
        with open(tmp_name, "w") as fh:
            fh.write(data)
        os.replace(tmp_name, path)
"""

V2 = """import os


def first(values):
    cleaned_values = [v for v in values if v is not None]
    return cleaned_values


VERSION = (2, 0)


def parse(text):
    items = []
    for line in text.splitlines():
        cleaned_line = line.strip().lower()
        if cleaned_line:
            items.append(cleaned_line)
    return items


def _body(items):
    return "\\n".join("<li>%s</li>" % i for i in items)


def render(items):
    header = "<ul>" + "".join(items)
    return header + _body(items)


class Store:
    def load(self, path):
        with open(path) as fh:
            return fh.read()

    def save(self, path, data):
        tmp_name = path + ".tmp"
        with open(tmp_name, "w") as fh:
            fh.write(data)
        os.replace(tmp_name, path)
"""


def _later(k: int) -> str:
    """Versions 3..6: a line above everything grows, and Store.save's temp suffix changes."""
    return V2.replace("import os\n", "import os\n" + "# release note\n" * k).replace('".tmp"', f'".tmp{k}"')


VERSIONS = {"1.0": V1, "2.0": V2, **{f"{k}.0": _later(k) for k in range(3, 7)}}
BIG_CAPS = {
    f"{level}:{cat}": 1000
    for level in ("definition", "statement")
    for cat in ("unchanged", "moved", "edited", "split", "wrapped", "deleted")
}


def _sdist(cache: Path, name: str, version: str, files: dict[str, str]) -> None:
    """A source archive laid out as `pip download` leaves it in the cache."""
    folder = cache / "dl" / name / version
    folder.mkdir(parents=True)
    with tarfile.open(folder / f"{name}-{version}.tar.gz", "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"{name}-{version}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Project, Path]:
    cache = tmp_path / "cache"
    for version, text in VERSIONS.items():
        # A README and a file outside `include` must be ignored.
        _sdist(cache, "tiny", version, {"src/tiny/core.py": text, "README.md": "x", "docs/conf.py": text})
    return Project("tiny", "pypi", tuple(VERSIONS), "MIT", include=("src/",)), cache


def _by_id(cases: list[Case]) -> dict[str, Case]:
    return {c.id: c for c in cases}


def test_read_release_keeps_only_included_sources(tiny: tuple[Project, Path]) -> None:
    project, cache = tiny
    files = read_release(project, cache / "dl" / "tiny" / "1.0" / "tiny-1.0.tar.gz")
    assert files == {"src/tiny/core.py": ("python", V1)}


def test_single_step_categories_and_spans(tiny: tuple[Project, Path]) -> None:
    project, cache = tiny
    cases = [
        c for c in project_cases(project, cache, caps=BIG_CAPS, chains=0) if c.meta["versions"][0] == "1.0"
    ]
    prefix = "real:tiny:1.0..2.0:src/tiny/core.py:"
    got = {c.id.removeprefix(prefix): c for c in cases}
    defs = {k: c.category for k, c in got.items() if c.meta["level"] == "definition"}
    assert defs == {
        "first": "unchanged",
        "parse": "edited",
        "render": "split",
        "obsolete_helper": "deleted",
        "Store": "moved",
        "Store::load": "moved",
        "Store::save": "moved",
    }
    assert got["render"].meta["helper"] == "_body"
    assert got["Store::load"].meta["move"] == "shifted"
    # Spans: the tagged text is the old definition, the expected text the new one.
    assert got["parse"].old_piece.startswith("def parse(text):") and "total_count" in got["parse"].old_piece
    assert got["parse"].expected_piece == V2[V2.index("def parse") : V2.index("    return items\n") + 16]
    assert got["Store::load"].expected_piece == got["Store::load"].old_piece
    assert got["Store::load"].expected_start == V2.index("def load")
    assert got["first"].expected_start == got["first"].old_start == V1.index("def first")
    assert got["obsolete_helper"].expected_start is None and got["obsolete_helper"].deleted

    stmts = {c.old_piece: c for c in cases if c.meta["level"] == "statement"}
    assert stmts["items.append(cleaned_line)"].category == "wrapped"
    wrapped = stmts["items.append(cleaned_line)"]
    assert wrapped.expected_start == V2.index("items.append(cleaned_line)")
    assert stmts["total_count = len(items) + 0"].category == "deleted"
    assert stmts["cleaned_line = line.strip().lower()"].category == "moved"
    assert stmts["cleaned_values = [v for v in values if v is not None]"].category == "unchanged"
    assert stmts["os.replace(tmp_name, path)"].category == "moved"
    assert stmts["os.replace(tmp_name, path)"].expected_piece == "os.replace(tmp_name, path)"
    # The computation moved into the helper is neither "deleted" nor anything else: unknown.
    assert not any("body_text =" in piece for piece in stmts)
    for c in cases:
        assert c.meta["project"] == "tiny" and c.meta["licence"] == "MIT" and c.language == "python"
        assert c.meta["path"] == "src/tiny/core.py"


def test_renamed_function_is_not_deleted(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    renamed = V1.replace("def obsolete_helper(a, b):", "def symmetric_difference(a, b):")
    _sdist(cache, "ren", "1", {"m.py": V1})
    _sdist(cache, "ren", "2", {"m.py": renamed})
    cases = project_cases(Project("ren", "pypi", ("1", "2"), "MIT"), cache, caps=BIG_CAPS, chains=0)
    names = {c.meta["qualname"]: c.category for c in cases if c.meta["level"] == "definition"}
    assert "obsolete_helper" not in names  # dropped as unknown: something resembles it
    assert names["first"] == "unchanged"


def test_renamed_and_grown_function_is_not_deleted(tmp_path: Path) -> None:
    """Renamed and three times longer: rapidfuzz ratio < 0.5, but its lines are all still there."""
    cache = tmp_path / "cache"
    extra = "".join(f"    check_value_number_{i} = validate(a, b, {i})\n" for i in range(12))
    grown = V1.replace("def obsolete_helper(a, b):\n", "def symmetric_difference(a, b):\n" + extra)
    _sdist(cache, "grow", "1", {"m.py": V1})
    _sdist(cache, "grow", "2", {"m.py": grown})
    cases = project_cases(Project("grow", "pypi", ("1", "2"), "MIT"), cache, caps=BIG_CAPS, chains=0)
    names = {c.meta["qualname"] for c in cases if c.meta["level"] == "definition"}
    assert "obsolete_helper" not in names and "first" in names


def test_chains_are_linked_and_deterministic(tiny: tuple[Project, Path]) -> None:
    project, cache = tiny
    cases = project_cases(project, cache, caps=BIG_CAPS, chains=50, chains_per_file=50)
    again = project_cases(project, cache, caps=BIG_CAPS, chains=50, chains_per_file=50)
    assert [c.to_json_line() for c in cases] == [c.to_json_line() for c in again]
    chained = [c for c in cases if "chain" in c.meta]
    singles, chains = split_chains(chained)
    assert singles == [] and chains
    for _chain, idx in chains.items():
        steps = [chained[i] for i in idx]
        assert len(steps) == 5 and all(s.meta["steps"] == 5 for s in steps)
        for a, b in itertools.pairwise(steps):
            assert a.new_text == b.old_text
            assert b.old_piece == a.expected_piece  # the truth carried from version to version
    save = [chained[i] for i in chains["real:tiny:chain:src/tiny/core.py:Store::save"]]
    assert [s.category for s in save] == ["moved", "edited", "edited", "edited", "edited"]
    assert save[-1].expected_piece is not None and '".tmp6"' in save[-1].expected_piece


def test_unknown_project_is_an_error() -> None:
    with pytest.raises(BenchError, match="unknown project"):
        list(generate(["no-such-project"]))


def test_holdout_projects_are_disjoint_and_wired(cli: CliRunner, tmp_path: Path) -> None:
    from benchmark_gen.realhistory import HOLDOUT_PROJECTS, PROJECTS

    assert not set(HOLDOUT_PROJECTS) & set(PROJECTS)
    assert all(name == p.name and len(p.versions) >= 6 for name, p in HOLDOUT_PROJECTS.items())
    # A tuning project is not a holdout one: the table is chosen before any download.
    with pytest.raises(BenchError, match=r"unknown project.*known: .*ws"):
        list(generate(["click"], tmp_path, projects=HOLDOUT_PROJECTS))
    r = cli(
        "bench", "generate-real", "--holdout", "--projects", "click", "--cache-dir", str(tmp_path), "-o", "x"
    )
    assert r.code == 1 and "unknown project(s): click" in r.err
    assert all(name in r.err for name in HOLDOUT_PROJECTS) and "commander" not in r.err
    r = cli("bench", "generate-real", "--projects", "ws", "--cache-dir", str(tmp_path), "-o", "x")
    assert r.code == 1 and "unknown project(s): ws" in r.err and "commander" in r.err
    assert not (tmp_path / "dl").exists()


# --- the scorer's honesty -------------------------------------------------------------------


def _p(cid: str, status: str, correct: bool, confidence: float, orphaned: bool = False) -> Prediction:
    return Prediction(
        cid,
        None if orphaned else 0,
        None if orphaned else 5,
        status,
        confidence,
        "x",
        0,
        0,
        1.0,
        correct,
        correct,
        1.0 if correct else 0.0,
    )


def _cases(n: int, category: str = "c") -> list[Case]:
    return [
        Case(
            id=f"k{i}",
            old_text="abcdefgh",
            old_start=0,
            old_end=5,
            new_text="abcdefgh",
            expected_start=0,
            expected_end=5,
            meta={"category": category},
        )
        for i in range(n)
    ]


def test_silent_misplacements_needs_review_split_and_ece() -> None:
    preds = [
        _p("a", "anchored", True, 0.95),
        _p("b", "moved", False, 0.95),  # silent
        _p("c", "changed", False, 0.25),  # silent
        _p("d", "needs_review", True, 0.25),
        _p("e", "needs_review", False, 0.25),  # wrong guess, but flagged: not silent
        _p("f", "orphaned", False, 0.0, orphaned=True),  # not placed: not silent, not in ECE
    ]
    s = summarize(_cases(6), preds, suites=["one.jsonl"] * 3 + ["two.jsonl"] * 3)
    assert s["silent"] == 2 and s["silent_per_1000"] == pytest.approx(333.33, abs=0.01)
    assert s["needs_review"] == {"n": 2, "right": 1, "wrong": 1}
    # Buckets: 0.9-1.0 has 2 answers, 1 right (precision .5, confidence .95);
    # 0.2-0.3 has 3, 1 right (precision 1/3, confidence .25). ECE = 2/5*.45 + 3/5*(1/3-.25).
    rows = {r["bucket"]: r for r in s["reliability"]}
    assert set(rows) == {"0.2-0.3", "0.9-1.0"}
    assert rows["0.9-1.0"]["n"] == 2 and rows["0.9-1.0"]["precision"] == 0.5
    assert rows["0.2-0.3"]["n"] == 3 and rows["0.2-0.3"]["precision"] == pytest.approx(0.3333, abs=1e-4)
    assert s["ece"] == pytest.approx(0.4 * 0.45 + 0.6 * (1 / 3 - 0.25), abs=1e-4)
    assert s["by_suite"]["one.jsonl"]["silent"] == 2 and s["by_suite"]["two.jsonl"]["silent"] == 0
    assert s["by_suite"]["two.jsonl"]["needs_review"] == {"n": 2, "right": 1, "wrong": 1}
    assert s["by_category"]["c"]["silent"] == 2


def test_a_calibrated_engine_has_zero_ece() -> None:
    preds = [_p(str(i), "moved", i < 8, 0.8) for i in range(10)]  # says .8, right 8 times in 10
    assert expected_calibration_error(preds) == pytest.approx(0.0)
    assert reliability(preds) == [{"bucket": "0.8-0.9", "n": 10, "mean_confidence": 0.8, "precision": 0.8}]
    assert expected_calibration_error([_p("o", "orphaned", True, 0.0, orphaned=True)]) is None


def test_chain_status_is_the_librarys_rule() -> None:
    """The scorer shows what `pipeline.decide` says: a status describes the change since a person
    placed the tag, not since the last version."""
    from magicmarkup.anchoring import Placement
    from magicmarkup.model import Span, Status, Tag
    from magicmarkup.pipeline import decide
    from magicmarkup.tags import make_anchor

    tagged = "def f():\n    return 1"
    old = "# head\n" + tagged + "\n"
    pin = Tag(
        path="a.py",
        span=Span(start=7, end=7 + len(tagged)),
        anchor=make_anchor(old, 7, 7 + len(tagged), "python", None),
    )

    def status(new: str, start: int | None, engine: Status, of: Tag = pin) -> str:
        end = None if start is None else start + len(tagged)
        return decide(of, Placement(start, end, engine, 1.0, "diff"), new).status.value

    assert status(old, 7, Status.ANCHORED) == "anchored"
    assert status("# a longer head\n" + tagged + "\n", 16, Status.MOVED) == "moved"
    # the engine's step says "anchored" (unchanged since the last version), but the text is no
    # longer what the person tagged: changed
    assert status("# head\ndef f():\n    return 2\n", 7, Status.ANCHORED) == "changed"
    assert status(old, 7, Status.NEEDS_REVIEW) == "needs_review"
    assert status(old, None, Status.ORPHANED) == "orphaned"
    lost = pin.model_copy(update={"status": Status.ORPHANED})
    assert status(old.replace("# head", "# next"), 7, Status.ANCHORED, lost) == "needs_review"  # reappeared


def _chain_case(cid: str, step: int, old: str, piece: str, new: str, expected: str | None) -> Case:
    start = old.index(piece)
    es = None if expected is None else new.index(expected)
    return Case(
        id=cid,
        old_text=old,
        old_start=start,
        old_end=start + len(piece),
        new_text=new,
        expected_start=es,
        expected_end=None if es is None or expected is None else es + len(expected),
        language="python",
        meta={"category": "chain-test", "chain": "ch", "step": step, "steps": 3},
    )


def test_chains_are_carried_from_the_engines_own_placement() -> None:
    """v0 -> v1 edits the tagged function, v1 -> v2 and v2 -> v3 leave it alone: the engine's
    per-step status is `anchored` at the later steps, yet the text is not what was tagged."""
    v0 = "import os\n\n\ndef area(w, h):\n    return w * h\n\n\ndef other():\n    return 0\n"
    v1 = v0.replace("return w * h", "return abs(w) * abs(h)")
    v2 = v1 + "\n\ndef more():\n    return 2\n"
    v3 = v2 + "\n\ndef again():\n    return 3\n"
    old_fn = "def area(w, h):\n    return w * h"
    new_fn = "def area(w, h):\n    return abs(w) * abs(h)"
    cases = [
        _chain_case("s0", 0, v0, old_fn, v1, new_fn),
        # The stored old span of step 1 is deliberately another function: a chain ignores it and
        # starts from where the engine put the tag at step 0.
        _chain_case("s1", 1, v1, "def other():\n    return 0", v2, new_fn),
        _chain_case("s2", 2, v2, new_fn, v3, new_fn),
    ]
    run = score_suite(cases)
    assert [p.correct for p in run.predictions] == [True, True, True]
    assert [p.status for p in run.predictions] == ["changed", "changed", "changed"]
    assert [p.engine_status for p in run.predictions][1:] == ["anchored", "anchored"]
    assert all(p.text_changed for p in run.predictions)
    ch = chain_summary(run.predictions)
    assert ch is not None
    assert ch["changed_but_anchored"] == 0 and ch["engine_changed_but_anchored"] == 2
    assert ch["chains"] == 1 and ch["steps"] == 3 and ch["chains_all_correct"] == 1
    # Scored alone, step 1 follows its stored (other) span and so misses the expected one.
    alone = score_cases(cases)
    assert not alone.predictions[1].correct


def test_an_orphan_that_reappears_is_at_most_needs_review() -> None:
    v0 = "def keep():\n    return 1\n\n\ndef gone(x):\n    return x * 42 + 7\n"
    v1 = "def keep():\n    return 1\n"
    v2 = v0
    fn = "def gone(x):\n    return x * 42 + 7"
    cases = [
        _chain_case("o0", 0, v0, fn, v1, None),
        Case(
            id="o1",
            old_text=v1,
            old_start=0,
            old_end=3,
            new_text=v2,
            expected_start=v2.index(fn),
            expected_end=v2.index(fn) + len(fn),
            language="python",
            meta={"category": "chain-test", "chain": "ch", "step": 1, "steps": 2},
        ),
    ]
    run = score_suite(cases)
    first, second = run.predictions
    assert first.status == "orphaned" and first.correct
    assert second.correct and second.engine_status in ("anchored", "moved")
    assert second.status == "needs_review"


def test_offsets_are_code_points_in_non_ascii_files() -> None:
    text = 'NAME = "café ☕"\n\n\ndef grüß(x):\n    return "ü" * x\n\n\ndef after():\n    return 1\n'
    src = Parsed(text, "python")
    defs = {d.qualname: d for d in definitions(src)}
    assert defs["grüß"].text == 'def grüß(x):\n    return "ü" * x'
    assert text[defs["after"].start : defs["after"].end] == "def after():\n    return 1"


def test_a_rewritten_docstring_is_not_a_deleted_statement(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one = 'def f(x, offset_amount):\n    """Compute the thing from x quickly."""\n    result_value = x * 2 + offset_amount\n    return result_value\n'
    two = one.replace("Compute the thing from x quickly.", "Totally new words: see the manual, chapter 9.")
    _sdist(cache, "doc", "1", {"m.py": one})
    _sdist(cache, "doc", "2", {"m.py": two})
    cases = project_cases(Project("doc", "pypi", ("1", "2"), "MIT"), cache, caps=BIG_CAPS, chains=0)
    stmts = {c.old_piece: c.category for c in cases if c.meta["level"] == "statement"}
    assert stmts == {"result_value = x * 2 + offset_amount": "moved"}  # the docstring grew


# --- through the real CLI (a registry project's name, hand-made archives in the cache: no network)

JS_BASE = """function parseArgs(argv) {
  const result = { flags: [], rest: [] };
  for (const arg of argv) {
    if (arg.startsWith('--')) result.flags.push(arg.slice(2));
    else result.rest.push(arg);
  }
  return result;
}

class Command {
  constructor(name) {
    this.name = name;
    this.options = [];
  }

  option(flags, description) {
    this.options.push({ flags, description });
    return this;
  }
}

module.exports = { parseArgs, Command };
"""


def test_generate_real_and_score_through_the_cli(mm: CliRunner, tmp_path: Path) -> None:
    from benchmark_gen.realhistory import PROJECTS

    cache = tmp_path / "cache"
    project = PROJECTS["commander"]
    for k, version in enumerate(project.versions):
        text = "// release\n" * k + JS_BASE
        if k >= 3:
            text = text.replace("{ flags, description }", f"{{ flags, description, since: {k} }}")
        folder = cache / "dl" / "commander" / version
        folder.mkdir(parents=True)
        with tarfile.open(folder / f"commander-{version}.tgz", "w:gz") as tar:
            data = text.encode()
            info = tarfile.TarInfo("package/lib/command.js")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "real.jsonl.gz"
    r = mm(
        "bench",
        "generate-real",
        "--projects",
        "commander",
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
        "--json",
    )
    assert r.code == 0, r.err
    made = r.json()
    assert made["chains"] == 2 and made["by_project"] == {"commander": made["written"]}
    assert made["by_language"] == {"javascript": made["written"]}
    assert made["by_category"]["definition:edited"] >= 1 and made["by_category"]["definition:moved"] >= 1

    preds = tmp_path / "pred.jsonl"
    r = mm("bench", "score", str(out), "--no-llm", "--json", "--predictions", str(preds))
    assert r.code == 0, r.err
    summary = r.json()
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert summary["n"] == made["written"] == len(lines)
    assert summary["silent"] == sum(x["silent"] for x in lines)
    assert set(summary["by_suite"]) == {"real.jsonl.gz"}
    assert summary["by_suite"]["real.jsonl.gz"]["n"] == made["written"]
    chains = summary["chains"]
    assert chains["chains"] == 2 and chains["steps"] == 2 * (len(project.versions) - 1)
    assert chains["changed_but_anchored"] == 0
    assert {x["step"] for x in lines if "chain" in x} == set(range(len(project.versions) - 1))


def test_decorators_added_above_a_tag_are_not_part_of_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one = (
        "import functools\n\n\ndef plain(values):\n    return sorted(values, key=str.lower)\n\n\n"
        "@functools.lru_cache(maxsize=8)\ndef cached(values):\n    return tuple(sorted(values))\n"
    )
    two = one.replace("def plain(", "@functools.cache\ndef plain(").replace("maxsize=8", "maxsize=64")
    _sdist(cache, "deco", "1", {"m.py": one})
    _sdist(cache, "deco", "2", {"m.py": two})
    cases = project_cases(Project("deco", "pypi", ("1", "2"), "MIT"), cache, caps=BIG_CAPS, chains=0)
    got = {c.meta["qualname"]: c for c in cases if c.meta["level"] == "definition"}
    # Tagged without decorators: a decorator added above is new code outside the tag.
    assert got["plain"].category == "moved"
    assert (
        got["plain"].expected_piece
        == got["plain"].old_piece
        == "def plain(values):\n    return sorted(values, key=str.lower)"
    )
    # Tagged with its decorator: the decorator is part of it, and its edit is an edit.
    assert got["cached"].old_piece.startswith("@functools.lru_cache(maxsize=8)")
    assert got["cached"].category == "edited"
    assert got["cached"].expected_piece is not None
    assert got["cached"].expected_piece.startswith("@functools.lru_cache(maxsize=64)\ndef cached")
