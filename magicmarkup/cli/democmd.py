"""`magicmarkup demo`: the main job, end to end, on a throwaway git copy of the demo project."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from magicmarkup import demo
from magicmarkup.cli import app
from magicmarkup.cli.app import STATUS_STYLE, State, pass_state, print_json
from magicmarkup.model import Status
from magicmarkup.positions import Positions
from magicmarkup.session import Session


@click.command("demo")
@click.option("--no-llm", is_flag=True, help="Cheap stages only.")
@click.option(
    "--keep", type=click.Path(file_okay=False, path_type=Path), help="Build the demo here and keep it."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def demo_cmd(state: State, no_llm: bool, keep: Path | None, as_json: bool) -> None:
    """Tag a copy of the demo project in a git repository, change it over a few commits
    (insertions above, a rename, a refactored call, a deleted function), retag through the
    commits, and show where each tag went and which stage placed it."""
    session = Session.open(None, no_llm)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="magicmarkup-demo-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with session.resolver() as (resolver, note):
            if not as_json:
                app.console.print(f"[dim]{escape(note)}[/]")
                app.console.print(f"tagging {len(demo.DEMO_TAGS)} spans, then committing:")
                for i, commit in enumerate(demo.DEMO_COMMITS, 1):
                    app.console.print(f"  commit {i}: [bold]{escape(commit.message)}[/]")
                    for edit in commit.edits:
                        app.console.print(f"    - {escape(edit.description)}")
            store, before, report = demo.run(workdir, resolver, session.thresholds)
        after = {t.id: t for t in store.all_tags(history=True)}
        subjects = {step.commit[:12]: (step.commit[:8], step.subject) for step in report.steps}
        rows: list[dict[str, Any]] = []
        for tag in before:
            now = after[tag.id]
            now_text = store.read_document(now.path) if now.status is not Status.ORPHANED else None
            text = now_text[now.span.start : now.span.end] if now_text is not None else None
            then = store.get_snapshot(tag.anchor.snapshot) if tag.anchor.snapshot else None
            rows.append(
                {
                    "id": tag.id,
                    "path_before": tag.path,
                    "path": now.path,
                    "note": tag.note,
                    "before": tag.anchor.text,
                    "after": text,
                    "where_before": Positions(then).where(tag.path, tag.span.start, tag.span.end)
                    if then is not None
                    else tag.path,
                    "where": Positions(now_text).where(now.path, now.span.start, now.span.end)
                    if now_text is not None
                    else f"{now.path} (orphaned)",
                    "status": now.status.value,
                    "method": now.method,
                    "confidence": now.confidence,
                    # One step per commit that moved it: the final status alone would hide a
                    # change made two commits ago ("changed", then "anchored" since).
                    "journey": [
                        {
                            "status": ev.status.value,
                            "method": ev.method,
                            "confidence": ev.confidence,
                            "commit": subjects.get(ev.reason or "", (None, None))[0],
                            "subject": subjects.get(ev.reason or "", (None, None))[1],
                        }
                        for ev in now.history
                    ],
                }
            )
        asked = report.total.llm_calls
        if resolver is None:
            model = "without a model (cheap stages only)"
        elif asked:
            model = f"with the model, asked {asked} times ({report.total.llm_tokens} tokens)"
        else:
            model = "with the model ready, never asked (no placement was unsure enough)"
        hint = demo.make_real(store) if keep is not None else None
        seconds = time.perf_counter() - began
        if as_json:
            print_json(
                {
                    "root": str(store.root),
                    "kept": keep is not None,
                    "llm": note,
                    "llm_used": resolver is not None,
                    "llm_asked": asked,
                    "next": hint,
                    "commits": [c.message for c in demo.DEMO_COMMITS],
                    "tags": rows,
                    "report": report.to_json(),
                    "seconds": round(seconds, 3),
                }
            )
            return
        for step in report.steps:
            counts = Counter(c.status for c in step.report.changes)
            what = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no tag moved"
            app.console.print(f"retag {step.commit[:8]} {escape(step.subject)}: {what}")
            for change in step.report.changes:
                app.console.print(
                    f"  {escape(change.where)}  {change.status} by {escape(change.method)}", highlight=False
                )
        table = Table(title="where each tag went", header_style="bold", show_lines=True)
        for col in ("note", "file", "tagged text before", "tagged text after"):
            table.add_column(col, overflow="fold")
        for col in ("status after each commit that moved it", "placed by", "conf"):
            table.add_column(col, overflow="fold")
        for r in rows:
            where = f"{r['where_before']} -> {r['where']}"
            table.add_row(
                escape(r["note"]),
                escape(where),
                escape(r["before"]),
                escape(r["after"] or "(gone)"),
                " → ".join(
                    f"[{STATUS_STYLE[j['status']]}]{j['status']}[/]"
                    + (f" @{j['commit']}" if j["commit"] else "")
                    for j in r["journey"]
                )
                or f"[{STATUS_STYLE[r['status']]}]{r['status']}[/]",
                " → ".join(j["method"] for j in r["journey"]) or r["method"],
                " → ".join(f"{j['confidence']:.2f}" for j in r["journey"]) or f"{r['confidence']:.2f}",
            )
        if app.console.is_terminal:
            app.console.print(table)
        else:  # piped: one block per tag (a table squeezed to 80 columns is one word per line)
            for r in rows:
                where = f"{r['where_before']} -> {r['where']}"
                journey = " -> ".join(
                    f"{j['status']} ({j['method']} {j['confidence']:.2f}"
                    + (f", commit {j['commit']} {j['subject']!r}" if j["commit"] else "")
                    + ")"
                    for j in r["journey"]
                )
                app.console.print(
                    f"{escape(where)}: {escape(r['note'])}\n"
                    f"  before: {escape(_one_line(r['before']))}\n"
                    f"  after:  {escape(_one_line(r['after'] or '(gone)'))}\n"
                    f"  status: {escape(journey or r['status'])}",
                    soft_wrap=True,
                    highlight=False,
                )
        app.console.print(
            f"[dim]{len(rows)} tags through {len(report.steps)} commits {model} in {seconds:.1f} s[/]"
        )
        if keep:
            app.console.print(
                f"demo repository kept in {escape(str(store.root))} (tags committed, hooks installed)"
            )
            app.console.print(escape(hint or ""), highlight=False, soft_wrap=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())
