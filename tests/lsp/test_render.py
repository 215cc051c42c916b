"""Notes in hovers read as their author wrote them (no escape backslashes before `*`, `_` or
backticks), and nothing in a stranger's note can link, load an image, open HTML or make a
heading: rendered by a real CommonMark renderer (markdown-it, as editors' hovers are)."""

from __future__ import annotations

import markdown_it

from magicmarkup.lsp.render import note_md

RENDER = markdown_it.MarkdownIt("commonmark")


def html(note: str) -> str:
    return RENDER.render("\n".join(note_md(note))).strip()


def test_a_notes_own_markdown_renders_without_backslashes() -> None:
    lines = note_md("why *3*? see my_var, `items[0]` and **this**\n\nsecond paragraph")
    assert "\\" not in "\n".join(lines)
    out = html("why *3*? see my_var, `items[0]` and **this**")
    assert "<em>3</em>" in out and "<code>items[0]</code>" in out and "<strong>this</strong>" in out


def test_nothing_in_a_hostile_note_links_loads_or_shouts() -> None:
    hostile = (
        "# Pwned\n"
        "[click](javascript:alert(1)) ![pixel](https://evil.example/x.png) <https://evil.example>\n"
        "<img src=x onerror=alert(1)> &lt;b&gt; `[ok](in code)`"
    )
    out = html(hostile)
    assert "<a " not in out and "<img" not in out and "<h1" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out  # shown as text
    assert "<code>[ok](in code)</code>" in out  # a code span stays code, no backslash inside
