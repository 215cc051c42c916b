"""Hostile repositories, round 2 (issue 23): each attack is a clone (or an unpacked archive) the
test builds, driven through what a user drives: the real CLI, the TUI under Textual's pilot,
the language server over stdio.

1. a committed pin on a git-ignored `.env`: accepting its guess (TUI `p`, the language server's
   accept, re-attach, import) never copies the user's own `.env` into the store;
2. no git dir and a committed `.magicmarkup/cache` symlink: nothing is created where it points;
3./4. Markdown in a pin's `method` (hover), terminal escapes in notes, paths, metadata, code (TUI);
5. two pinned paths on one working-tree file: list, grep and retag --worktree still work;
6. a bad value in the committed config.toml: one warning, defaults, and the re-pin still runs;
8. a lock file deleted while held: the next writer still waits;
9. an anchor longer than the file, `export -o` over a file that is no export, deep JSON on
   import, a snapshot file with a bad name under `doctor --fix`.
(7, writes proportional to what changed, is tests/security/test_big_foreign_store.py.)
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from magicmarkup.errors import StoreError
from magicmarkup.store import Store
from magicmarkup.tags import add_tag
from tests.conftest import CliRunner, git
from tests.lsp.conftest import command, diagnostics, eventually, hover, lenses, open_doc, start

SECRET = "sk-victim-secret-4242"


def store_text(root: Path) -> str:
    """Every committed store file's text, snapshots decompressed (where a leak would be)."""
    out = []
    for file in sorted((root / ".magicmarkup").rglob("*")):
        if not file.is_file() or "cache" in file.relative_to(root / ".magicmarkup").parts[:1]:
            continue
        data = file.read_bytes()
        out.append(
            gzip.decompress(data).decode("utf-8", "replace") if file.suffix == ".gz" else data.decode()
        )
    return "\n".join(out)


def edit_pin(root: Path, rel: str, tag_id: str, **fields: Any) -> None:
    file = root / ".magicmarkup" / "pins" / rel / f"{tag_id}.json"
    pin = json.loads(file.read_text(encoding="utf-8"))
    pin.update(fields)
    file.write_text(json.dumps(pin), encoding="utf-8")


def hostile_env_clone(tmp_path: Path) -> tuple[Path, str]:
    """An attacker's repository that ships a pin (a needs_review guess) on its ignored `.env`,
    cloned by a victim who has a `.env` of their own. Returns (the clone, the pin's id)."""
    evil = tmp_path / "attacker"
    evil.mkdir()
    git(evil, "init", "-q", "-b", "main")
    (evil / ".gitignore").write_text("/.env\n", encoding="utf-8")  # the pins folder .env/ is shared
    (evil / "app.py").write_text("x = 1\n", encoding="utf-8")
    (evil / ".env").write_text("API_KEY=placeholder\n", encoding="utf-8")
    store = Store.init(evil)
    tag = add_tag(store, ".env", match="API_KEY=", note="rotate this", allow_ignored=True)
    edit_pin(evil, ".env", tag.id, status="needs_review", confidence=0.5)
    git(evil, "add", "-A")
    git(evil, "commit", "-q", "-m", "a helpful note")
    victim = tmp_path / "victim"
    git(tmp_path, "clone", "-q", str(evil), str(victim))
    (victim / ".env").write_text(f"API_KEY={SECRET}\n", encoding="utf-8")
    assert SECRET not in store_text(victim)
    return victim, tag.id


def assert_nothing_leaked(victim: Path) -> None:
    assert SECRET not in store_text(victim)
    assert git(victim, "status", "--porcelain") == ""


# -- 1. the sharing rule -------------------------------------------------------------------------


async def test_tui_accept_of_a_cloned_pin_on_an_ignored_file_copies_nothing(tmp_path: Path) -> None:
    from tests.test_tui import make_app
    from tui.screens import RepairScreen

    victim, tag_id = hostile_env_clone(tmp_path)
    app = make_app(Store(victim), open_path=".env")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.select(tag_id)
        await pilot.pause()
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RepairScreen)
        await pilot.press("p")  # accept the placement
        await pilot.pause()
        assert not isinstance(app.screen, RepairScreen)
    assert_nothing_leaked(victim)
    assert Store(victim).find(tag_id).status.value == "needs_review"  # unchanged


def test_reattach_accept_and_import_refuse_an_ignored_file(tmp_path: Path) -> None:
    from magicmarkup import tags as tagapi
    from magicmarkup.errors import DocumentError

    victim, tag_id = hostile_env_clone(tmp_path)
    store = Store(victim)
    for act in (
        lambda: tagapi.accept_placement(store, tag_id),
        lambda: tagapi.reattach_tag(store, tag_id, 0, 7),
    ):
        with pytest.raises(DocumentError, match=r"^\.env: git ignores this file"):
            act()
    # a tracked symlink to the ignored file is the ignored file
    (victim / "notes.txt").symlink_to(".env")
    git(victim, "add", "notes.txt")
    with pytest.raises(DocumentError, match="git ignores"):
        tagapi.add_tag(store, "notes.txt", match="API_KEY")
    git(victim, "rm", "-q", "--cached", "notes.txt")
    (victim / "notes.txt").unlink()
    # an export file carrying a tag on .env is refused before anything is written
    export = tagapi.export_tags(store)
    tagapi.remove_tag(store, tag_id)
    git(victim, "checkout", "-q", ".")  # the removal undone on disk: the pin is back
    export["tags"][0]["id"] = "01abcdefabcdefabcdefabcdef"
    file = tmp_path / "in.json"
    file.write_text(json.dumps(export), encoding="utf-8")
    with pytest.raises(DocumentError, match="git ignores"):
        tagapi.import_tags(store, file)
    assert SECRET not in store_text(victim)  # (the removal's history log is new: that is all)
    # asked explicitly, the user may share it
    assert tagapi.import_tags(store, file, allow_ignored=True) == (1, 0)


# -- 3. Markdown in the hover, plain text elsewhere (the language server over stdio) ----------------

HOSTILE_METHOD = '# Pwned\n[click](https://evil.example/x) <img src="https://evil.example/t.png"> `x`'


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "magicmarkup", "lsp", "--poll", "0.2"])
)
async def client(lsp_client: LanguageClient) -> Any:
    yield
    await lsp_client.shutdown_session()


async def test_language_server_escapes_every_field_and_refuses_the_ignored_accept(
    client: LanguageClient, tmp_path: Path
) -> None:
    victim, env_id = hostile_env_clone(tmp_path)
    store = Store(victim)
    (victim / "app.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    tag = add_tag(store, "app.py", match="x = 1", note="fine\x1b]0;retitled\x07")
    edit_pin(victim, "app.py", tag.id, method=HOSTILE_METHOD)  # shown as placed: anchored, exact
    guess = add_tag(store, "app.py", match="y = 2", note="two\nlines\x1b[2J\x9b31m")
    anchor = json.loads((victim / ".magicmarkup" / "pins" / "app.py" / f"{guess.id}.json").read_text())[
        "anchor"
    ]
    edit_pin(victim, "app.py", guess.id, status="needs_review", anchor={**anchor, "snapshot": None})
    await start(client, victim)
    uri = await open_doc(client, victim / "app.py")
    text = await eventually(lambda: hover(client, uri, 0, 1), lambda t: t is not None)
    assert text is not None
    assert not re.search(r"^\s*#", text, re.M) and "\x1b" not in text and "\x07" not in text
    assert not re.search(r"(?<!\\)<|(?<!\\)\]\(|(?<!\\)!\[", text)  # no raw HTML, link or image
    assert r"\# Pwned" in text and r"\[click\]\(https://evil.example/x\)" in text and r"\<img" in text
    found = await eventually(lambda: _async(diagnostics(client, uri)), lambda d: bool(d))
    assert found and all(not re.search(r"[\x00-\x1f\x7f-\x9f]", d.message) for d in found)
    assert "two lines" not in found[0].message and "two" in found[0].message  # the first line, plain
    for _, _, title in await lenses(client, uri):
        assert "\x1b" not in title and "\x07" not in title
    with pytest.raises(Exception, match="git ignores"):
        await command(client, "magicmarkup.accept", env_id)
    assert SECRET not in store_text(victim)


async def _async(value: Any) -> Any:
    return value


# -- 4. terminal escapes in the TUI --------------------------------------------------------------

ESCAPES = "\x1b]0;retitled\x07\x1b[2J\x1b]8;;https://evil.example\x1b\\link\x9b31m\u202e"
LEGIT = re.compile(r"\x1b\[[0-9;]*[mHK]")  # what Textual itself writes: colours, cursor moves


async def test_tui_shows_hostile_text_without_sending_a_control_sequence(tmp_path: Path) -> None:
    from tests.test_tui import make_app
    from tui.screens import RepairScreen

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    name = "ev\x1b]0;retitled\x07\x1b[2J\x9b31m\u202eil.py"  # a file name cannot hold a "/"
    (root / name).write_text(f"x = 1  # {ESCAPES}\ny = 2\n", encoding="utf-8")
    store = Store.init(root)
    tag = add_tag(store, name, match="x = 1", note=f"note {ESCAPES}", metadata={f"k{ESCAPES}": f"v{ESCAPES}"})
    edit_pin(root, name, tag.id, method=f"m{ESCAPES}")  # anchored exactly: its method is shown
    guess = add_tag(store, name, match="y = 2", note=f"guess {ESCAPES}")
    anchor = json.loads((root / ".magicmarkup" / "pins" / name / f"{guess.id}.json").read_text())["anchor"]
    anchor.update(snapshot=None, text=f"y = 2{ESCAPES}")
    edit_pin(root, name, guess.id, status="needs_review", anchor=anchor)
    app = make_app(Store(root), open_path=name)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        app.select(tag.id)
        await pilot.pause()
        _assert_clean(_terminal_output(app))
        app.select(guess.id)
        await pilot.pause()
        _assert_clean(_terminal_output(app))
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RepairScreen)
        _assert_clean(_terminal_output(app))


def _terminal_output(app: Any) -> str:
    """What Textual would write to the terminal for the whole screen."""
    update = app.screen._compositor.render_update(full=True)
    return "".join(update.render_segments(app.console))


def _assert_clean(output: str) -> None:
    assert "retitled" in output  # the hostile text is there, to be read
    rest = LEGIT.sub("", output)
    bad = sorted(
        {f"U+{ord(c):04X}" for c in rest if (ord(c) < 0x20 and c not in "\n") or 0x7F <= ord(c) <= 0x9F}
    )
    assert not bad, bad
    assert "\u202e" not in rest


# -- 2. local state never follows a link out ------------------------------------------------------


def test_no_git_dir_and_a_cache_symlink_creates_nothing_where_it_points(
    tmp_path: Path, cli: CliRunner, user_dir: Path
) -> None:
    archive = tmp_path / "unpacked"
    archive.mkdir()
    (archive / "a.py").write_text("x = 1\n", encoding="utf-8")
    assert cli("init", cwd=archive).code == 0
    target = tmp_path / "elsewhere"
    target.mkdir()
    shutil.rmtree(archive / ".magicmarkup" / "cache", ignore_errors=True)  # as unpacked: the link only
    (archive / ".magicmarkup" / "cache").symlink_to(target, target_is_directory=True)
    assert cli("add", "a.py", "--match", "x = 1", "--note", "n", cwd=archive).code == 0
    listed = cli("list", "--json", cwd=archive)
    assert listed.code == 0 and len(listed.json()) == 1
    assert cli("retag", "--worktree", "--no-llm", cwd=archive).code == 0
    assert list(target.iterdir()) == []
    local = Store(archive).local_dir
    assert local.is_relative_to(tmp_path / "user-cache") and (local / "lock").exists()


# -- 5. two pinned paths, one file ----------------------------------------------------------------


def test_two_pinned_paths_on_one_file_never_crash_the_readers(repo: Path, cli: CliRunner) -> None:
    (repo / "a.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 2\n", encoding="utf-8")
    git(repo, "add", "a.py")
    git(repo, "commit", "-q", "-m", "a")
    assert cli("init").code == 0
    assert cli("add", "a.py", "--match", "return 1", "--note", "old path").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tag")
    git(repo, "mv", "a.py", "b.py")  # committed without the hook: the pin stays on a.py
    git(repo, "commit", "-q", "-m", "rename")
    assert cli("add", "b.py", "--match", "return 2", "--note", "new path").code == 0
    listed = cli("list", "--json")
    assert listed.code == 0, listed.err
    shown = {t["metadata"]["note"]: (t["path"], t["text"], t["status"]) for t in listed.json()}
    assert shown == {
        "old path": ("b.py", "return 1", "moved"),
        "new path": ("b.py", "return 2", "anchored"),
    }
    grep = cli("grep", "path", "--json")
    assert grep.code == 0, grep.err
    retag = cli("retag", "--worktree", "--no-llm")
    assert retag.code == 0 and "unexpected" not in retag.err, retag.err


# -- 6. a bad shared setting ----------------------------------------------------------------------


def test_bad_committed_settings_warn_once_and_the_commit_still_repins(repo: Path, mm: CliRunner) -> None:
    (repo / "a.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    assert mm("init").code == 0
    assert mm("add", "a.py", "--match", "return 1").code == 0
    (repo / ".magicmarkup" / "config.toml").write_text(
        "concurrency = 1000000000\nreview_threshold = 7\nno_such = 1\nretries = 1\n", encoding="utf-8"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start")
    retag = mm("retag", "--worktree", "--no-llm")
    assert retag.code == 0, retag.err
    warnings = [ln for ln in retag.err.splitlines() if "warning" in ln]
    assert len(warnings) == 1, retag.err
    assert all(s in warnings[0] for s in ("config.toml", "concurrency", "review_threshold", "no_such"))
    assert "retries" not in warnings[0]  # the good one is used
    assert mm("hooks", "install").code == 0
    (repo / "a.py").write_text("import os\n\n\ndef f():\n    return 1\n", encoding="utf-8")
    git(repo, "add", "a.py")
    commit = subprocess.run(["git", "commit", "-q", "-m", "edit"], cwd=repo, capture_output=True, text=True)
    assert commit.returncode == 0, commit.stderr
    assert git(repo, "status", "--porcelain") == ""  # the pin was re-pinned and staged
    pin = next((repo / ".magicmarkup" / "pins" / "a.py").glob("*.json"))
    start = (repo / "a.py").read_text().index("return 1")
    assert json.loads(pin.read_text())["span"] == {"start": start, "end": start + len("return 1")}


# -- 8. the lock ----------------------------------------------------------------------------------


def test_the_lock_holds_when_its_file_is_deleted(tmp_path: Path) -> None:
    from tests.test_store import hold_lock, release

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    store = Store.init(root)
    holder = hold_lock(store)
    try:
        (store.local_dir / "lock").unlink()
        other = Store(root)
        with pytest.raises(StoreError, match="locked by another process"), other.locked(timeout=0.3):
            pass
    finally:
        release(holder)
    with Store(root).locked(timeout=5):
        pass


# -- 9. smaller ones ------------------------------------------------------------------------------


def test_an_anchor_longer_than_the_file_is_not_a_confident_span_past_the_end(
    repo: Path, cli: CliRunner
) -> None:
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    assert cli("init").code == 0
    added = cli("add", "a.py", "--match", "x = 1", "--json").json()
    edit_pin(repo, "a.py", added["id"], anchor={**added_anchor(repo, added["id"]), "text": "x = 1\n" * 50})
    listed = cli("list", "--json")
    assert listed.code == 0, listed.err
    (tag,) = listed.json()
    assert tag["end"] <= len("x = 1\n")
    assert not (tag["status"] == "changed" and tag["confidence"] == 1.0)


def added_anchor(repo: Path, tag_id: str) -> dict[str, Any]:
    pin = json.loads((repo / ".magicmarkup" / "pins" / "a.py" / f"{tag_id}.json").read_text())
    anchor: dict[str, Any] = pin["anchor"]
    return anchor


def test_export_never_overwrites_what_is_not_an_export(repo: Path, cli: CliRunner) -> None:
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    assert cli("init").code == 0
    assert cli("add", "a.py", "--match", "x = 1").code == 0
    config = (repo / ".git" / "config").read_bytes()
    for target in (".git/config", "a.py"):
        refused = cli("export", "-o", target)
        assert refused.code == 1 and "not a magicmarkup export" in refused.err and "--force" in refused.err
    assert (repo / ".git" / "config").read_bytes() == config and (repo / "a.py").read_text() == "x = 1\n"
    assert cli("export", "-o", "tags.json").code == 0
    assert cli("export", "-o", "tags.json").code == 0  # an earlier export may be replaced
    (repo / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert cli("export", "-o", "notes.txt", "--force").code == 0


def test_import_of_deeply_nested_json_is_one_clear_line(repo: Path, cli: CliRunner, tmp_path: Path) -> None:
    assert cli("init").code == 0
    deep = tmp_path / "deep.json"
    deep.write_text('{"tags": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    result = cli("import", str(deep))
    assert result.code == 1 and "nested too deeply" in result.err and "Recursion" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_doctor_fix_collects_a_snapshot_file_with_a_bad_name(repo: Path, cli: CliRunner) -> None:
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    assert cli("init").code == 0
    assert cli("add", "a.py", "--match", "x = 1").code == 0
    bad = repo / ".magicmarkup" / "snapshots" / "ab" / "not-a-sha.gz"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(gzip.compress(b"junk"))
    report = cli("doctor", "--json").json()
    assert any(p["file"].endswith("not-a-sha.gz") and p["fixable"] for p in report["problems"])
    assert cli("doctor", "--fix").code == 0
    assert not bad.exists()
    assert not any(p["file"].endswith("not-a-sha.gz") for p in cli("doctor", "--json").json()["problems"])
    assert os.path.isdir(repo / ".magicmarkup" / "snapshots")
