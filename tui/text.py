"""The one function through which the TUI shows text it did not write itself.

A note, a metadata value, a path, a tag's method, the code of a document: any of them may come
from a stranger's clone, and a terminal obeys what it is sent. An escape sequence in a note
(`ESC ] 0 ; title BEL` retitles the terminal, `ESC [ 2 J` clears it, OSC 8 makes hidden links,
OSC 52 writes the clipboard) must reach the screen as something to read, never as a command.
Textual passes such characters through to the terminal, so every widget gets its text from
`shown`: each control character becomes a visible stand-in of the same length (one code point
for one), so offsets into a document still point at the same characters in the code view.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def _stand_in(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if code == 0x0D:
        return "\r"  # kept here; a lone one is replaced below
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch


def shown(text: str) -> str:
    """`text` safe to draw in a terminal, with the same length: control characters (C0 but
    newline, tab and the CR of a CRLF; DEL; C1) and invisible format characters (bidi overrides,
    zero-width ones) are replaced by visible stand-ins."""
    if not _CONTROL.search(text):
        return text
    out = _CONTROL.sub(_stand_in, text)
    if "\r" in out:
        out = re.sub(r"\r(?!\n)", "\u240d", out)  # ␍: a carriage return not ending a line
    return out
