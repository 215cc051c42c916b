"""Every action of the app in one table: its key binding (shown in the footer) and its command
palette entry come from here, so neither can miss one."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# key, action, footer label, palette help, shown in the footer, priority (works in any widget)
ACTIONS: list[tuple[str, str, str, str, bool, bool]] = [
    ("question_mark,f1", "help", "Help", "Show every key (this list)", True, False),
    ("n", "next_tag", "Next", "Jump to the next tag", True, False),
    ("N", "prev_tag", "Prev", "Jump to the previous tag", True, False),
    ("a", "add_tag", "Add", "Tag the selected code", True, False),
    ("e", "edit_tag", "Edit", "Edit the selected tag's note and metadata", True, False),
    ("d", "delete_tag", "Delete", "Delete the selected tag (asks first; u undoes)", True, False),
    ("u", "undo", "Undo", "Undo the last add, edit, delete or repair of this session", True, False),
    (
        "r",
        "toggle_review",
        "Review",
        "Show the tags that need review or are orphaned, across the repo",
        True,
        False,
    ),
    ("R", "repair", "Repair", "Repair the selected tag: see the candidates, accept or reject", True, False),
    ("t", "reattach", "Re-attach", "Re-attach the selected tag to the selected code", True, False),
    ("slash", "search", "Search", "Search notes and tagged text", True, False),
    ("o", "open_file", "Open", "Open any file of the repository", False, False),
    ("T", "tours", "Tours", "The tours of the store: their steps in order, open one", False, False),
    ("g", "retag", "Retag", "Re-anchor every tag to the files on disk (in the background)", True, False),
    ("f5", "refresh", "Reload", "Read the store and the open file again", False, False),
    ("ctrl+t", "toggle_theme", "Theme", "Switch between the light and the dark theme", False, False),
    ("q", "quit", "Quit", "Leave Magic Markup", True, False),
]

KEY_NAMES = {"slash": "/", "question_mark": "?"}


def key_label(key: str) -> str:
    """How a binding's keys are written for people: "question_mark,f1" -> "? / f1"."""
    return " / ".join(KEY_NAMES.get(k, k) for k in key.split(","))


class MagicMarkupCommands(Provider):
    """The command palette entries: one per action, with its key."""

    def _entries(self) -> list[tuple[str, str, str]]:
        return [
            (f"{help_text}  ({key_label(key)})", action, label)
            for key, action, label, help_text, _show, _prio in ACTIONS
        ]

    async def discover(self) -> Hits:
        for title, action, help_text in self._entries():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self.app.run_action, action), help=help_text
                )
