"""`magicmarkup demo`: the main job, end to end, on a throwaway copy of the demo project."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from magicmarkup import demo
from magicmarkup.agent import llm_session
from magicmarkup.cli.app import State, console, pass_state, print_json
from magicmarkup.cli.retagcmd import STATUS_STYLE_NAMES, thresholds
from magicmarkup.config import load_settings
from magicmarkup.model import Status


@click.command("demo")
@click.option("--no-llm", is_flag=True, help="Cheap stages only.")
@click.option(
    "--keep", type=click.Path(file_okay=False, path_type=Path), help="Build the demo here and keep it."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def demo_cmd(state: State, no_llm: bool, keep: Path | None, as_json: bool) -> None:
    """Tag a copy of the demo project, edit it like a programmer would, show where tags went."""
    settings = load_settings(None)
    with tempfile.TemporaryDirectory(prefix="magicmarkup-demo-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        use = settings if not no_llm else settings.model_copy(update={"llm": False})
        with llm_session(use) as (resolver, note):
            if no_llm:
                note = "LLM stage off (--no-llm): cheap stages only"
            if not as_json:
                console.print(f"[dim]{escape(note)}[/]")
                for i, edit in enumerate(demo.DEMO_EDITS, 1):
                    console.print(f"edit {i}: {escape(edit.description)}")
            store, before, report = demo.run(workdir, resolver, thresholds(settings))
        after = {t.id: t for t in store.all_tags()}
        rows: list[dict[str, Any]] = []
        for tag in before:
            now = after[tag.id]
            text = (
                store.read_document(now.path)[now.span.start : now.span.end]
                if now.status is not Status.ORPHANED
                else None
            )
            rows.append(
                {
                    "id": tag.id,
                    "path": now.path,
                    "note": tag.note,
                    "before": tag.anchor.text,
                    "after": text,
                    "status": now.status.value,
                    "method": now.method,
                    "confidence": now.confidence,
                }
            )
        if as_json:
            print_json({"root": str(store.root), "llm": note, "tags": rows, "report": report.to_json()})
            return
        table = Table(title="where each tag went", header_style="bold", show_lines=True)
        for col in ("note", "tagged text before", "tagged text after", "status", "placed by", "conf"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                escape(r["note"]),
                escape(r["before"]),
                escape(r["after"] or "(gone)"),
                f"[{STATUS_STYLE_NAMES[r['status']]}]{r['status']}[/]",
                r["method"],
                f"{r['confidence']:.2f}",
            )
        console.print(table)
        if keep:
            console.print(f"demo repository kept in {escape(str(store.root))}")
