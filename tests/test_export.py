"""`export --html` and `export --markdown` through the CLI: what is written, how untrusted text is
escaped, forge links, review cards. (The site in a real browser: tests/test_export_browser.py.)"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import CliRunner, git
from tests.export_site import HOSTILE_NOTE, HOSTILE_PATH, ExportRepo, build, statuses

LINK = "https://forge.example/o/r/blob/{commit}/{path}#L{start_line}-L{end_line}"


class Elements(HTMLParser):
    """Every element of a page with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> Elements:
    parser = Elements()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.fixture
def site_repo(tmp_path: Path) -> ExportRepo:
    return build(tmp_path / "shop")


def test_html_site_is_self_contained_and_escapes_everything(
    site_repo: ExportRepo, cli: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    result = cli("export", "--html", str(out), "--link", LINK, "--json", cwd=site_repo.root)
    assert result.code == 0, result.err
    summary = result.json()
    now = statuses(site_repo.store)
    assert summary["tags"] == len(now) and summary["files"] == 3 and summary["tours"] == 1
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == summary["pages"] == 1 + 3 + 1
    assert summary["bytes"] == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    head = sha = git(site_repo.root, "rev-parse", "HEAD").strip()
    texts = {}
    for page in pages:
        raw = page.read_text(encoding="utf-8")
        assert raw.count('http-equiv="Content-Security-Policy"') == 1
        assert "script-src 'self'" in raw and "default-src 'none'" in raw
        parsed = parse(page)
        scripts = [a for t, a in parsed.elements if t == "script"]
        assert len(scripts) == 1 and (scripts[0]["src"] or "").endswith("site.js"), page
        for tag, attrs in parsed.elements:
            assert tag not in ("img", "iframe", "object", "embed", "b", "style"), (page, tag)
            assert not any(name.startswith("on") for name in attrs), (page, tag, attrs)
            href = (attrs.get("href") or "").strip().lower()
            assert not href.startswith(("javascript:", "data:", "vbscript:")), (page, href)
            if href.startswith("http"):  # only the forge, at HEAD
                assert href.startswith(f"https://forge.example/o/r/blob/{head}/"), href
        # nothing is fetched: every reference is a file of the site
        refs = [a.get("href") or a.get("src") or "" for _t, a in parsed.elements]
        assert all(not r.startswith("//") for r in refs)
        texts[page.relative_to(out).as_posix()] = "".join(parsed.text)
    everything = "\n".join(texts.values())
    # the hostile strings are there, as text
    assert "<script>window.__pwned = 1</script>" in everything
    assert '<img src="x" onerror="window.__pwned=2">' in everything
    assert "[click me](javascript:window.__pwned=3)" in everything
    assert "<b onmouseover=window.__pwned=7>T-1</b>" in everything  # a metadata value
    assert HOSTILE_PATH in everything and "</pre></td><script>window.__pwned = 6</script>" in everything
    assert "A walk <script>window.__pwned=8</script>" in everything  # a tour title
    # the index lists every tag, grouped by file, each linked to its note on its file's page
    index = parse(out / "index.html")
    listed = [a for t, a in index.elements if t == "li" and "tag" in (a.get("class") or "").split()]
    assert len(listed) == len(now)
    links = {a["href"] for t, a in index.elements if t == "a" and (a.get("href") or "").startswith("files/")}
    for tag_id in now:
        assert any(link.endswith(f"#tag-{tag_id}") for link in links), tag_id
    assert sha in (out / "index.html").read_text(encoding="utf-8")


def test_review_cards_show_the_original_code_and_history(
    site_repo: ExportRepo, cli: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    assert cli("export", "--html", str(out), cwd=site_repo.root).code == 0
    now = statuses(site_repo.store)
    assert {now[i] for i in site_repo.review_ids} <= {"needs_review", "orphaned"}
    [page] = [p for p in (out / "files").glob("*.html") if "alpha" in p.name]
    parsed = parse(page)
    cards = {
        a["id"]: a for t, a in parsed.elements if t == "div" and "card" in (a.get("class") or "").split()
    }
    text = "".join(parsed.text)
    for tag_id in site_repo.review_ids:
        key = f"tag-{tag_id}" if now[tag_id] == "orphaned" else f"review-{tag_id}"
        assert key in cards and now[tag_id] in (cards[key].get("class") or "")
    assert text.count("Tagged in this code") == len(site_repo.review_ids)
    # the original context: the old function, as it was tagged (from the snapshot)
    assert "def gamma(x):" in text and "total += item.price" in text
    assert "History" in text and "tagged" in text and "now: src/alpha.py:" in text


def test_markdown_export(site_repo: ExportRepo, cli: CliRunner, tmp_path: Path) -> None:
    result = cli("export", "--markdown", cwd=site_repo.root)
    assert result.code == 0, result.err
    md = result.out
    now = statuses(site_repo.store)
    assert md.startswith("# Notes on the code\n") and f"{len(now)} tags in 3 files" in md
    assert "## src/prices.py" in md
    assert "### [src/prices.py:5](<src/prices.py#L5>)" in md
    assert re.search(
        r"### \[src/prices\.py:6[0-9]\]\(<src/prices\.py#L6[0-9]>\)\n\nWhy \*\*not\*\* Decimal", md
    )
    # raw HTML in a note is inert; the Markdown stays
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in md and "<script>" not in md
    assert "**still markdown**" in md
    assert "```python\n    return qty * rate\n```" in md
    assert md.count("— **needs review**") + md.count("— **orphaned**") >= len(site_repo.review_ids)
    assert "## Tour: A walk \\<script\\>window.\\_\\_pwned=8\\</script\\>" in md
    assert "*directory:* src" in md
    # a file name with markup: escaped in the text, percent-encoded in the link
    assert "(<src/%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D5%3E.py#L5>)" in md
    # -o FILE, --link
    target = tmp_path / "notes.md"
    linked = cli("export", "--markdown", "-o", str(target), "--link", LINK, "--json", cwd=site_repo.root)
    assert linked.code == 0 and linked.json()["output"] == str(target)
    head = git(site_repo.root, "rev-parse", "HEAD").strip()
    assert f"(<https://forge.example/o/r/blob/{head}/src/prices.py#L5-L5>)" in target.read_text("utf-8")
    assert HOSTILE_NOTE not in target.read_text("utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--html", "SITE", "--link", "javascript:alert({path})"], "must start with http:// or https://"),
        (["--html", "SITE", "--link", "https://x/{branch}/{path}"], "unknown field {branch}"),
        (["--html", "SITE", "--link", "https://x/{path!r}"], "unknown field"),
        (["--html", ".magicmarkup/site"], "inside the tag store"),
        (["--codetour", ".magicmarkup"], "inside the tag store"),
        (["--markdown", "-o", ".magicmarkup/notes.md"], "inside the tag store"),
        (["--html", "SITE", "--markdown"], "give one of --html, --markdown, --codetour"),
        (["--link", "https://x/{path}"], "--link goes with --html or --markdown"),
        (["--html", "SITE", "-o", "x.html"], "-o goes with the JSON or --markdown export"),
    ],
)
def test_export_refuses_bad_options(
    site_repo: ExportRepo, cli: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(tmp_path / "site") if a == "SITE" else a for a in args]
    result = cli("export", *args, cwd=site_repo.root)
    assert result.code in (1, 2) and message in result.err, result.err
    assert not (tmp_path / "site").exists()


def test_link_with_commit_needs_a_commit(repo: Path, cli: CliRunner, tmp_path: Path) -> None:
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    assert cli("init").code == 0 and cli("add", "a.py", "--match", "x = 1").code == 0
    result = cli("export", "--html", str(tmp_path / "s"), "--link", LINK)
    assert result.code == 1 and "uses {commit}, but this repository has no commit" in result.err
    ok = cli("export", "--html", str(tmp_path / "s"), "--link", "https://x/{path}#L{start_line}")
    assert ok.code == 0, ok.err
    assert 'href="https://x/a.py#L1"' in next((tmp_path / "s" / "files").glob("*.html")).read_text("utf-8")
    listed = json.loads(cli("list", "--json").out)
    assert len(listed) == 1


def test_a_changed_file_is_highlighted_again(site_repo: ExportRepo, cli: CliRunner, tmp_path: Path) -> None:
    """Highlighting is cached per document in the local dir: a changed text is never shown stale."""
    out = tmp_path / "site"
    assert cli("export", "--html", str(out), cwd=site_repo.root).code == 0
    assert len(list((site_repo.store.local_dir / "html").glob("*.json"))) == 3
    prices = site_repo.root / "src" / "prices.py"
    prices.write_text("NEW_FIRST_LINE = 'fresh'\n" + prices.read_text(encoding="utf-8"), encoding="utf-8")
    assert cli("export", "--html", str(out), cwd=site_repo.root).code == 0
    [page] = [p for p in (out / "files").glob("*.html") if "prices" in p.name]
    text = "".join(parse(page).text)
    assert "1NEW_FIRST_LINE = 'fresh'" in text and "66    return qty * rate" in text
