"""Reading source documents as exact text, so code-point offsets mean the same thing everywhere.

Files are decoded as UTF-8 without newline translation (CRLF stays two characters) and a BOM is
kept as a character, so the offsets we store match what an editor or `git show` sees.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from magicmarkup.errors import DocumentError

BINARY_SNIFF_BYTES = 8192


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def decode(data: bytes, name: str) -> str:
    """Decode bytes as a text document, or raise a one-line error naming `name`."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise DocumentError(f"{name}: binary file (contains NUL bytes), cannot be annotated")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not UTF-8 text (invalid byte at offset {exc.start})") from None


def read_document(path: Path, name: str | None = None) -> str:
    label = name or str(path)
    if path.is_symlink() and not path.exists():
        raise DocumentError(f"{label}: broken symbolic link")
    if path.is_dir():
        raise DocumentError(f"{label}: is a directory, not a file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError(f"{label}: no such file") from None
    except OSError as exc:
        raise DocumentError(f"{label}: cannot read ({exc.strerror})") from None
    return decode(data, label)


EXTENSION_LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".tsx": "tsx",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".java": "java",
    ".go": "go",
    ".rs": "rust",
    ".rkt": "racket",
    ".scm": "scheme",
    ".ss": "scheme",
}


def language_for(path: str) -> str | None:
    """The tree-sitter language of a path by its extension, or None (plain text)."""
    return EXTENSION_LANGUAGES.get(Path(path).suffix.lower())
