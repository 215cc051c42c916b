"""Every grammar the engine claims loads with the network unreachable (the 1.x language pack
downloads grammars at run time; 0.13 ships them in the wheel)."""

from __future__ import annotations

import subprocess
import sys

from magicmarkup.anchoring.syntax import LANGUAGES

PROBE = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError("network unreachable (test)")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from magicmarkup.anchoring import syntax

bad = []
for language in sys.argv[1:]:
    tree = syntax.parse("x\\n", language)
    if tree is None or tree.tree.root_node is None:
        bad.append(language)
print(",".join(bad) if bad else "ok")
"""


def test_every_claimed_grammar_loads_offline() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *LANGUAGES], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok", f"grammars that did not load offline: {out.stdout.strip()}"
    assert {"python", "javascript", "typescript", "tsx", "c", "cpp", "java", "go", "rust", "racket"} <= set(
        LANGUAGES
    )
