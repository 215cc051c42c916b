"""`magicmarkup check`: the CI / pre-commit gate, on real git repositories (full, shallow,
detached), through the real CLI entry point; SARIF checked against the OASIS schema; the real
`pre-commit` framework running the hooks of a clone of this repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from magicmarkup.store import Store
from tests.conftest import GIT_ENV, CliRunner, git

ROOT = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = Path(__file__).parent / "fixtures" / "formats" / "sarif-schema-2.1.0.json"

APP = (
    "def alpha():\n"
    "    return compute_alpha(1, 2, 3)\n"
    "\n\n"
    "def beta():\n"
    '    return compute_beta("b", "e", "t", "a")\n'
    "\n\n"
    "def gamma():\n"
    "    return compute_gamma([1, 2, 3])\n"
    "\n\n"
    "def delta(rate):\n"
    "    total = price * quantity * rate\n"
    "    return total\n"
)
ALPHA = "def alpha():\n    return compute_alpha(1, 2, 3)\n\n\n"
BETA = 'def beta():\n    return compute_beta("b", "e", "t", "a")\n\n\n'
GAMMA = "def gamma():\n    return compute_gamma([1, 2, 3])\n\n\n"
HOSTILE = (
    "line one %0A %25 \r\n::error file=evil.py,line=1::forged annotation\n"
    "::warning::also forged, with a comma: and colon\n<script>alert(1)</script> \x1b[31mred\x1b[0m ::"
)


@dataclass
class Scenario:
    root: Path
    ids: dict[str, str]
    base: str  # B is already stale here
    head: str  # A broken, C new and already unsure


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def _write(root: Path, text: str) -> None:
    (root / "app.py").write_text(text, encoding="utf-8")


def _add(cli: CliRunner, root: Path, match: str, note: str) -> str:
    added = cli("add", "app.py", "--match", match, "--note", note, cwd=root)
    assert added.code == 0, added.err
    return added.out.strip()


def build(repo: Path, cli: CliRunner) -> Scenario:
    """c1: three tags (A, B, D). base: B's code deleted (stale before the change). head: A's code
    deleted (the change breaks it), and tag C added on code the same commit deletes (a new tag
    already unsure). Commits are made without the hooks, so the pins stay where they were made
    (each after `publish`, as a user without hooks is told to: the snapshots are committed)."""
    _write(repo, APP)
    assert cli("init").code == 0
    ids = {
        "A": _add(cli, repo, "return compute_alpha(1, 2, 3)", "alpha's arguments are positional"),
        "B": _add(cli, repo, 'return compute_beta("b", "e", "t", "a")', "beta spells its name"),
        "D": _add(cli, repo, "total = price * quantity * rate", HOSTILE),
    }
    assert cli("publish", cwd=repo).code == 0
    _commit(repo, "c1")
    _write(repo, APP.replace(BETA, ""))
    base = _commit(repo, "base: beta removed")
    git(repo, "branch", "base")
    ids["C"] = _add(cli, repo, "return compute_gamma([1, 2, 3])", "gamma takes a list")
    _write(repo, APP.replace(BETA, "").replace(ALPHA, "").replace(GAMMA, ""))
    assert cli("publish", cwd=repo).code == 0
    head = _commit(repo, "head: alpha and gamma removed")
    return Scenario(repo, ids, base, head)


@pytest.fixture
def scenario(repo: Path, cli: CliRunner) -> Scenario:
    return build(repo, cli)


def _ids(rows: list[dict[str, object]]) -> set[object]:
    return {row["id"] for row in rows}


def test_since_fails_only_on_what_the_change_broke(scenario: Scenario, cli: CliRunner) -> None:
    ids = scenario.ids
    everything = cli("check", "--json")
    assert everything.code == 1
    assert _ids(everything.json()["problems"]) == {ids["A"], ids["B"], ids["C"]}

    since = cli("check", "--since", "base", "--json")
    assert since.code == 1, since.err
    data = since.json()
    assert data["since_commit"] == scenario.base
    assert {r["id"]: r["why"] for r in data["problems"]} == {
        ids["A"]: "was anchored at base",
        ids["C"]: "new since base",
    }
    assert [(r["id"], r["status_before"]) for r in data["information"]] == [(ids["B"], "orphaned")]

    text = cli("check", "--since", "base")
    assert text.code == 1
    lines = text.out.splitlines()
    assert len(lines) == 3  # two problems, then the information
    a_line = next(line for line in lines if "alpha's arguments" in line)
    assert re.fullmatch(r"app\.py:2:5: orphaned: alpha's arguments are positional  \[\w{8,}\]", a_line)
    b_line = next(line for line in lines if "beta spells" in line)
    assert b_line.startswith("app.py:6:5: orphaned (already orphaned at base): beta spells its name")
    assert lines[-1] == b_line
    assert "2 problems (2 orphaned); 1 already so at base (not failing)" in text.err

    # against HEAD nothing changed: nothing is placed at all, nothing fails
    same = cli("check", "--since", "HEAD")
    assert (same.code, same.out) == (0, "")
    assert "0 tags in 0 files changed since HEAD" in same.err
    # a change to a file without tags leaves the check as cheap
    (scenario.root / "notes.txt").write_text("untagged\n", encoding="utf-8")
    assert "0 tags in 0 files" in cli("check", "--since", "HEAD").err


def test_rev_checks_a_commit_that_is_not_checked_out(scenario: Scenario, cli: CliRunner) -> None:
    root = scenario.root
    git(root, "checkout", "-q", "base")
    at_base = cli("check", "--rev", scenario.head, "--since", "base", "--json")
    assert at_base.code == 1, at_base.err
    data = at_base.json()
    assert data["rev"] == scenario.head
    assert _ids(data["problems"]) == {scenario.ids["A"], scenario.ids["C"]}
    assert git(root, "status", "--porcelain") == ""  # nothing checked out or written
    assert (root / "app.py").read_text(encoding="utf-8") == APP.replace(BETA, "")
    # the c1 commit, where every tag was placed: passes; the working tree (base) does not
    first = cli("check", "--rev", "HEAD~1")
    assert first.code == 0 and first.out == ""
    assert "3 tags in 1 files of commit" in first.err
    assert cli("check").code == 1


def test_shallow_detached_clone_gives_the_same_answer(
    scenario: Scenario, cli: CliRunner, tmp_path: Path
) -> None:
    full = cli("check", "--since", "base", "--json")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{scenario.root}", str(shallow))
    git(shallow, "checkout", "-q", "--detach")
    assert git(shallow, "rev-parse", "--is-shallow-repository").strip() == "true"
    missing = cli("check", "--since", scenario.base, cwd=shallow)
    assert missing.code == 2
    assert f"git fetch --depth 1 origin {scenario.base}" in missing.err
    assert len(missing.err.strip().splitlines()) == 1

    git(shallow, "fetch", "-q", "--depth", "1", "origin", scenario.base)  # by id, as GitLab CI can
    assert git(shallow, "rev-list", "--count", "HEAD").strip() == "1"  # still no history
    by_id = cli("check", "--since", scenario.base, "--json", cwd=shallow)
    assert by_id.code == 1 and _ids(by_id.json()["problems"]) == _ids(full.json()["problems"])
    git(shallow, "fetch", "-q", "--depth", "1", "origin", "base")  # by branch, as GitHub Actions can
    result = cli("check", "--since", "FETCH_HEAD", "--json", cwd=shallow)
    assert result.code == 1, result.err
    keep = ("id", "status", "status_before", "new", "start_line", "start_col", "failing")
    for key in ("problems", "information"):
        ours = [{k: r[k] for k in keep} for r in result.json()[key]]
        assert ours == [{k: r[k] for k in keep} for r in full.json()[key]], key


def test_sarif_is_valid_and_says_what_failed(scenario: Scenario, cli: CliRunner) -> None:
    out = cli("check", "--since", "base", "--format", "sarif")
    assert out.code == 1, out.err
    log = json.loads(out.out)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(log)
    [run] = log["runs"]
    assert run["columnKind"] == "unicodeCodePoints"
    by_id = {r["partialFingerprints"]["magicmarkupTag/v1"]: r for r in run["results"]}
    ids = scenario.ids
    assert set(by_id) == {ids["A"], ids["B"], ids["C"]}
    assert (by_id[ids["A"]]["level"], by_id[ids["A"]]["baselineState"]) == ("error", "updated")
    assert (by_id[ids["C"]]["level"], by_id[ids["C"]]["baselineState"]) == ("error", "new")
    assert (by_id[ids["B"]]["level"], by_id[ids["B"]]["baselineState"]) == ("note", "unchanged")
    region = by_id[ids["A"]]["locations"][0]["physicalLocation"]["region"]
    # end column is exclusive in SARIF: one past the last character of the tagged text
    text = "return compute_alpha(1, 2, 3)"
    assert (region["startLine"], region["startColumn"], region["endColumn"]) == (2, 5, 5 + len(text))
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])


GITHUB_COMMAND = re.compile(r"::(error|warning|notice) ([^:]*)::(.*)")


def _unescape(value: str) -> str:
    return (
        value.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def test_github_commands_parse_and_hostile_notes_forge_nothing(scenario: Scenario, cli: CliRunner) -> None:
    root, ids = scenario.root, scenario.ids
    # make the hostile note's tag fail too
    text = (root / "app.py").read_text(encoding="utf-8")
    _write(root, text.replace("    total = price * quantity * rate\n", ""))
    out = cli("check", "--format", "github")
    assert out.code == 1, out.err
    lines = out.out.splitlines()
    assert len(lines) == 4  # A, B, C and the hostile D: one line each, nothing more
    seen = {}
    for line in lines:
        match = GITHUB_COMMAND.fullmatch(line)
        assert match, line
        level, props, message = match.groups()
        fields = dict(p.split("=", 1) for p in props.split(","))
        assert set(fields) == {"file", "line", "col", "endLine", "endColumn", "title"}, line
        assert level == "error" and fields["file"] == "app.py"
        decoded = _unescape(message)
        seen[decoded.split("\n\n(magicmarkup tag")[0]] = fields
    hostile = next(note for note in seen if note.startswith("line one"))
    # the note arrives whole (control characters dropped), as one annotation's message
    assert hostile == "line one %0A %25 \n::error file=evil.py,line=1::forged annotation\n" + (
        "::warning::also forged, with a comma: and colon\n<script>alert(1)</script> red ::"
    )
    assert seen[hostile]["line"] == "14"
    # the other formats: one line per problem, the note on it made printable
    plain = cli("check").out.splitlines()
    assert len(plain) == 4 and all(re.match(r"app\.py:\d+:\d+: orphaned: ", line) for line in plain)
    assert any(re.fullmatch(r"app\.py:14:5: orphaned: line one %0A %25  \[\w+\]", line) for line in plain)
    data = cli("check", "--json").json()
    assert {r["id"]: r["metadata"]["note"] for r in data["problems"]}[ids["D"]] == HOSTILE
    sarif = json.loads(cli("check", "--format", "sarif").out)
    assert len(sarif["runs"][0]["results"]) == 4


def test_fix_accepts_confident_repairs_and_the_next_check_passes(repo: Path, cli: CliRunner) -> None:
    _write(repo, APP)
    assert cli("init").code == 0
    edited = _add(cli, repo, "total = price * quantity * rate", "rate is a fraction")
    gone = _add(cli, repo, "return compute_gamma([1, 2, 3])", "gamma takes a list")
    _commit(repo, "tags")
    _write(repo, APP.replace("price * quantity * rate", "price * quantity * rate * 1.0").replace(GAMMA, ""))
    strict = cli("check", "--fail-on", "changed", "--json")
    assert strict.code == 1
    [row] = strict.json()["problems"]
    assert (row["id"], row["status"]) == (edited, "changed")

    fixed = cli("check", "--fail-on", "needs_review,orphaned,changed", "--fix")
    assert fixed.code == 1  # the orphan is no repair the engine can be sure of: still failing
    assert fixed.out.splitlines() == [f"app.py:10:5: orphaned: gamma takes a list  [{gone[:8]}]"]
    assert f"accepted: app.py:10:5: changed -> anchored: rate is a fraction  [{edited[:8]}]" in fixed.err
    pin = Store(repo).find(edited)
    assert (pin.status.value, pin.method, pin.anchor.text) == (
        "anchored",
        "accepted",
        "total = price * quantity * rate * 1.0",
    )
    assert "check --fix" in (pin.history[-1].reason or "")
    again = cli("check", "--fail-on", "changed")
    assert again.code == 0, again.out
    assert cli("check").code == 1


def test_errors_exit_2_in_one_line(scenario: Scenario, cli: CliRunner) -> None:
    bad = cli("check", "--rev", "no-such-branch")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "no-such-branch: unknown revision" in bad.err
    assert cli("check", "--rev", "HEAD", "--fix").code == 2
    assert cli("check", "--fail-on", "bogus").code == 2
    pin = next((scenario.root / ".magicmarkup" / "pins" / "app.py").glob(f"{scenario.ids['D']}.json"))
    pin.write_text("{not json", encoding="utf-8")
    broken = cli("check", "--json")
    assert broken.code == 2
    data = broken.json()
    assert any(scenario.ids["D"] in e for e in data["errors"])
    assert len(data["problems"]) == 3  # the other tags are still checked


def test_paths_limit_the_check(scenario: Scenario, cli: CliRunner) -> None:
    root = scenario.root
    (root / "lib").mkdir()
    (root / "lib" / "other.py").write_text("VALUE = 1\n", encoding="utf-8")
    added = cli("add", "lib/other.py", "--match", "VALUE = 1", "--note", "one")
    assert added.code == 0
    assert cli("check", "lib").code == 0
    assert cli("check", "lib/other.py", "app.py").code == 1
    assert cli("check", "lib", cwd=root).out == ""
    inside = cli("check", ".", cwd=root / "lib")
    assert inside.code == 0 and "1 tags in 1 files" in inside.err


# -- the pre-commit framework --------------------------------------------------------------------


def test_pre_commit_framework_runs_the_hooks_from_a_clone(repo: Path, cli: CliRunner, tmp_path: Path) -> None:
    """`pre-commit try-repo <clone of this repository>` runs both hooks of .pre-commit-hooks.yaml
    the way a user's `.pre-commit-config.yaml` would: the framework installs the package into its
    own virtualenv from the package index (about a minute: try-repo installs afresh on every call,
    so this is one call), then `magicmarkup-check` fails on the tag the staged change broke and
    `magicmarkup-repin` re-pins the moved one and stages its pin. (`check --since HEAD` passing
    when nothing broke is test_since_fails_only_on_what_the_change_broke's last step.)"""
    clone = tmp_path / "magicmarkup-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    _write(repo, APP)
    assert cli("init").code == 0
    _add(cli, repo, "return compute_alpha(1, 2, 3)", "alpha's arguments are positional")
    moved = _add(cli, repo, "total = price * quantity * rate", "rate is a fraction")
    _commit(repo, "tags")
    _write(repo, "import os\n\n\n" + APP.replace(ALPHA, ""))
    git(repo, "add", "app.py")
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PIP_NO_COMPILE": "1",  # the hook's virtualenv needs no .pyc files made ahead
        "NO_COLOR": "1",
        "MAGICMARKUP_LLM": "0",
    }
    began = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(clone), "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    took = time.perf_counter() - began
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert re.search(r"magicmarkup check\.+Failed", run.stdout), out
    assert re.search(r"magicmarkup re-pin tags\.+Passed", run.stdout), out
    assert "app.py:2:5: orphaned: alpha's arguments are positional" in run.stdout, out
    assert "rate is a fraction" not in run.stdout  # it only moved: not a problem
    staged = git(repo, "diff", "--cached", "--name-only")
    assert f".magicmarkup/pins/app.py/{moved}.json" in staged, staged
    assert Store(repo).find(moved).anchor.start == APP.replace(ALPHA, "").index("total") + len(
        "import os\n\n\n"
    )
    print(f"pre-commit try-repo (environment installed, both hooks run): {took:.1f} s")
