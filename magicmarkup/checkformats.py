"""`check`'s findings written for each reader: lines for editors' quickfix lists and CI logs
(`path:line:col: status: note`), JSON, GitHub Actions workflow commands, and SARIF 2.1.0.

A note is untrusted text (anyone who can push may write one), so each format escapes it its own
way and nothing in a note can add a line, an annotation or a result: text lines drop control
characters and newlines, workflow commands percent-encode `%`, CR and LF (and `:` and `,` in
properties), and JSON/SARIF carry it as a JSON string, plain text, never Markdown or HTML.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any
from urllib.parse import quote

from magicmarkup.check import CheckResult, Finding
from magicmarkup.model import Status
from magicmarkup.positions import one_line, printable, short_ids, span_fields

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SNIPPET_CHARS = 2000

RULES: dict[Status, tuple[str, str, str]] = {  # status -> (rule name, short, full description)
    Status.NEEDS_REVIEW: (
        "TagNeedsReview",
        "A note's code changed and its new place is a guess.",
        "The code a note (a magicmarkup tag) is attached to changed, and the tag could only be "
        "placed with low confidence or ambiguously. Confirm or repair it: magicmarkup tui, or "
        "magicmarkup show ID.",
    ),
    Status.ORPHANED: (
        "TagOrphaned",
        "A note's code is gone.",
        "The code a note (a magicmarkup tag) was attached to was deleted or could not be found. "
        "Re-attach the tag to the code it is about, or remove it.",
    ),
    Status.CHANGED: (
        "TagCodeChanged",
        "A note's code was edited.",
        "The code a note (a magicmarkup tag) is attached to was edited; the tag was placed "
        "confidently on the new code. Read the note again, then accept it (magicmarkup check --fix).",
    ),
    Status.MOVED: ("TagMoved", "A note's code moved.", "The tagged code is unchanged, elsewhere."),
    Status.ANCHORED: ("TagAnchored", "A note is in place.", "The tagged code is unchanged, in place."),
}


def _said(finding: Finding) -> str:
    """The note's first line (or, without a note, the tagged text's)."""
    tag = finding.tag
    return one_line(tag.note, 200) or one_line(finding.text or tag.anchor.text, 80) or "(no note)"


def _since(result: CheckResult) -> str:
    """The baseline as given (a full commit id shortened)."""
    since = result.since or ""
    full = len(since) >= 40 and all(c in "0123456789abcdef" for c in since)
    return since[:10] if full else since


def _why(finding: Finding, result: CheckResult) -> str:
    """Why a finding fails or not, relative to the baseline."""
    if result.since is None:
        return ""
    before = finding.before.value if finding.before else "?"
    if finding.new:
        return f"new since {_since(result)}"
    return f"{'was' if finding.failing else 'already'} {before} at {_since(result)}"


# -- text --------------------------------------------------------------------------------------


def text_lines(result: CheckResult) -> list[str]:
    """One line per finding, problems first: `path:line:col: status: note  [id]`; information
    (already unsure at the baseline) as `path:line:col: status (already at REF): note  [id]`."""
    shown = short_ids(f.tag.id for f in result.findings)
    lines = []
    for finding in [*result.problems, *result.information]:
        tag = finding.tag
        point = finding.region.start if finding.region else None  # unknown: the top of the file
        place = printable(f"{tag.path}:{point or '1:1'}", False)
        status = tag.status.value if finding.failing else f"{tag.status.value} ({_why(finding, result)})"
        lines.append(f"{place}: {status}: {_said(finding)}  [{shown[tag.id]}]")
    return lines


def fixed_lines(result: CheckResult) -> list[str]:
    """What `--fix` accepted: `accepted: path:line:col: note  [id]`."""
    shown = short_ids(f.tag.id for f in result.fixed)
    lines = []
    for finding in result.fixed:
        point = finding.region.start if finding.region else "1:1"
        place = printable(f"{finding.tag.path}:{point}", False)
        lines.append(f"accepted: {place}: changed -> anchored: {_said(finding)}  [{shown[finding.tag.id]}]")
    return lines


def summary_line(result: CheckResult) -> str:
    """One line for the end of a run (stderr)."""
    problems = result.problems
    by_status: dict[str, int] = {}
    for f in problems:
        by_status[f.tag.status.value] = by_status.get(f.tag.status.value, 0) + 1
    what = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}" + (f" ({what})" if what else "")
    parts = [head]
    if result.information:
        parts.append(f"{len(result.information)} already so at {_since(result)} (not failing)")
    if result.fixed:
        parts.append(f"{len(result.fixed)} confident repairs accepted")
    checked = f"commit {result.rev[:10]}" if result.rev else "the working tree"
    scope = f" changed since {_since(result)}" if result.changed_only else ""
    parts.append(f"{result.tags} tags in {result.documents} files{scope} of {checked}")
    if result.errors:
        parts.append(f"{len(result.errors)} unreadable store files")
    return "magicmarkup check: " + "; ".join(parts)


# -- JSON --------------------------------------------------------------------------------------


def finding_json(finding: Finding, result: CheckResult) -> dict[str, Any]:
    tag = finding.tag
    row = tag.summary()
    row.update(span_fields(finding.region))
    row.update(
        {
            "failing": finding.failing,
            "position_is_last_known": finding.last_known,
            "current_text": finding.text,
            "status_before": finding.before.value if finding.before else None,
            "new": finding.new,
            "why": _why(finding, result),
        }
    )
    return row


def to_json(result: CheckResult) -> dict[str, Any]:
    return {
        "ok": result.exit_code == 0,
        "exit_code": result.exit_code,
        "rev": result.rev,
        "since": result.since,
        "since_commit": result.since_commit,
        "fail_on": sorted(s.value for s in result.fail_on),
        "tags": result.tags,
        "documents": result.documents,
        "changed_only": result.changed_only,
        "counts": result.counts,
        "problems": [finding_json(f, result) for f in result.problems],
        "information": [finding_json(f, result) for f in result.information],
        "fixed": [finding_json(f, result) | {"status": "anchored"} for f in result.fixed],
        "errors": result.errors,
        "warnings": result.warnings,
        "seconds": round(result.seconds, 3),
    }


# -- GitHub Actions workflow commands -------------------------------------------------------------


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF percent-encoded (as @actions/core does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_lines(result: CheckResult) -> list[str]:
    """`::error file=…,line=…,endLine=…,title=…::message` per problem, `::notice` per piece of
    information: shown inline on a pull request's diff."""
    shown = short_ids(f.tag.id for f in result.findings)
    lines = []
    for finding in [*result.problems, *result.information]:
        tag = finding.tag
        props = {"file": tag.path}
        if finding.region is not None:
            region = finding.region
            props.update(
                line=str(region.start.line),
                col=str(region.start.col),
                endLine=str(region.end.line),
                endColumn=str(region.end.col),
            )
        title = f"Tag {tag.status.value.replace('_', ' ')}"
        props["title"] = title if finding.failing else f"{title} (already at {_since(result)})"
        note = printable(tag.note, keep_newlines=True).strip() or _said(finding)
        why = _why(finding, result)
        place = "last anchored here" if finding.last_known else "now here"
        message = (
            f"{note}\n\n(magicmarkup tag {shown[tag.id]}: {tag.status.value}, {place}"
            f"{', ' + why if why else ''}; `magicmarkup show {shown[tag.id]}`)"
        )
        level = "error" if finding.failing else "notice"
        rendered = ",".join(
            f"{key}={escape_property(printable(value, True))}" for key, value in props.items()
        )
        lines.append(f"::{level} {rendered}::{escape_data(message)}")
    return lines


# -- SARIF 2.1.0 -------------------------------------------------------------------------------


def _version() -> str:
    try:
        return importlib.metadata.version("magicmarkup")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def to_sarif(result: CheckResult) -> dict[str, Any]:
    """A SARIF 2.1.0 log (what code-scanning services read): one rule per status, one result
    per finding; with a baseline, `baselineState` says new (failing) or unchanged (information).
    Columns count code points (`columnKind`), the region's end column is exclusive."""
    statuses = [s for s in Status if s in result.fail_on or any(f.tag.status is s for f in result.findings)]
    rules = []
    for status in statuses:
        name, short, full = RULES[status]
        level = "error" if status in result.fail_on else "note"
        rules.append(
            {
                "id": status.value,
                "name": name,
                "shortDescription": {"text": short},
                "fullDescription": {"text": full},
                "defaultConfiguration": {"level": level},
            }
        )
    index = {s: i for i, s in enumerate(statuses)}
    results = []
    for finding in [*result.problems, *result.information]:
        tag = finding.tag
        location: dict[str, Any] = {"artifactLocation": {"uri": quote(tag.path), "uriBaseId": "%SRCROOT%"}}
        if finding.region is not None:
            region: dict[str, Any] = {
                "startLine": finding.region.start.line,
                "startColumn": finding.region.start.col,
                "endLine": finding.region.end.line,
                "endColumn": finding.region.end.col + 1,
            }
            snippet = finding.text if finding.text is not None else tag.anchor.text
            region["snippet"] = {"text": snippet[:SNIPPET_CHARS]}
            location["region"] = region
        why = _why(finding, result)
        message = f"{tag.status.value}: {printable(tag.note, True).strip() or _said(finding)}"
        item: dict[str, Any] = {
            "ruleId": tag.status.value,
            "ruleIndex": index[tag.status],
            "level": "error" if finding.failing else "note",
            "message": {"text": message + (f" ({why})" if why else "")},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"magicmarkupTag/v1": tag.id},
            "properties": {
                "tagId": tag.id,
                "confidence": tag.confidence,
                "method": tag.method,
                "positionIsLastKnown": finding.last_known,
                "statusBefore": finding.before.value if finding.before else None,
            },
        }
        if result.since is not None:
            item["baselineState"] = "new" if finding.new else "updated" if finding.failing else "unchanged"
        results.append(item)
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    notes = [{"level": "error", "message": {"text": e}} for e in result.errors]
    notes += [{"level": "warning", "message": {"text": w}} for w in result.warnings]
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "magicmarkup",
                        "version": _version(),
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "invocations": [invocation],
                "results": results,
            }
        ],
    }
