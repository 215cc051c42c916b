"""Links from an export to the code on a forge (GitHub, GitLab, Gitea...), from a template such as
``https://github.com/OWNER/REPO/blob/{commit}/{path}#L{start_line}-L{end_line}``.

The template is the user's; the values are not: a path is percent-encoded, the numbers are
numbers, and only http(s) templates are accepted (a `javascript:` one would run in the site).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from magicmarkup.errors import MagicMarkupError

FIELDS = ("commit", "path", "start_line", "end_line")


class LinkTemplateError(MagicMarkupError):
    """A --link template that cannot make safe links."""


@dataclass(frozen=True)
class ForgeLink:
    template: str
    commit: str = ""

    @classmethod
    def parse(cls, template: str, root: Path) -> ForgeLink:
        """Check `template` (known fields only, http or https), and find the commit it needs."""
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise LinkTemplateError(f"--link {template!r}: {exc}") from None
        for _text, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in FIELDS or spec or conversion:
                raise LinkTemplateError(
                    f"--link {template!r}: unknown field {{{name}}}; use {', '.join('{' + f + '}' for f in FIELDS)}"
                )
        scheme = urlsplit(template.split("{", 1)[0]).scheme.lower()
        if scheme not in ("http", "https"):
            raise LinkTemplateError(f"--link {template!r}: must start with http:// or https://")
        commit = ""
        if any(name == "commit" for _t, name, _s, _c in parts):
            from magicmarkup.git import rev_parse

            commit = rev_parse(root, "HEAD") or ""
            if not commit:
                raise LinkTemplateError(
                    f"--link {template!r}: uses {{commit}}, but this repository has no commit"
                )
        return cls(template, commit)

    def url(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        """The link to lines `start_line`..`end_line` of `path` (the file when they are None:
        the `#...` part of the template is then dropped)."""
        template = self.template
        if start_line is None:
            template = template.split("#", 1)[0]
            start_line = end_line = 1
        return template.format(
            commit=self.commit,
            path=quote(path, safe="/"),
            start_line=int(start_line),
            end_line=int(end_line if end_line is not None else start_line),
        )
