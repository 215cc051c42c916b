"""Reading source documents as exact text, so code-point offsets mean the same thing everywhere.

Files are decoded as UTF-8 without newline translation (CRLF stays two characters) and a BOM is
kept as a character, so the offsets we store match what an editor or `git show` sees.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from magicmarkup.errors import DocumentError
from magicmarkup.safeio import MiB, read_regular

BINARY_SNIFF_BYTES = 8192
# A source document larger than this is refused with a clear error instead of being read (a
# hostile clone may hold a sparse file of terabytes at a tagged path).
DOCUMENT_LIMIT = 32 * MiB


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


def read_document(path: Path, name: str | None = None, limit: int = DOCUMENT_LIMIT) -> str:
    """The text of a source document: a regular file (symbolic links followed; the store checks
    they stay inside the repository) of at most `limit` bytes. A FIFO, socket or device at the
    path is a one-line DocumentError at once, never a hang."""
    label = name or str(path)
    data = read_regular(path, limit, follow_symlinks=True, label=label, error=DocumentError)
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
