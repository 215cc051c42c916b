"""`magicmarkup bench`: score the cascade on benchmark cases, and generate cases."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from magicmarkup.cli.app import console, err_console, print_json, progress
from magicmarkup.errors import MagicMarkupError

if TYPE_CHECKING:
    from magicmarkup.session import Session

CASE_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


def _session(no_llm: bool = False) -> Session:
    """The settings of the repository here (if any), with the user's and the environment's."""
    from magicmarkup.session import Session
    from magicmarkup.store import Store

    try:
        store_dir: Path | None = Store.discover().dir
    except MagicMarkupError:
        store_dir = None
    return Session.open(store_dir, no_llm)


@click.group("bench")
def bench_group() -> None:
    """Benchmarks: score the re-anchoring cascade, generate cases, measure speed.

    \b
    magicmarkup bench score data/bench/* --no-llm
    magicmarkup bench generate --corpus DIR --n 500 --seed 1 -o cases.jsonl.gz
    magicmarkup bench generate-llm --n 10 -o llm.jsonl
    magicmarkup bench generate-real --projects click,rxjs -o real.jsonl.gz
    magicmarkup bench generate-real --holdout -o holdout.jsonl.gz
    """


@bench_group.command("score")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--no-llm", is_flag=True, help="Cheap stages only; never ask a model.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N cases.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--predictions", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per case."
)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG chart.")
def score_cmd(
    files: tuple[Path, ...],
    no_llm: bool,
    limit: int | None,
    as_json: bool,
    predictions: Path | None,
    plot: Path | None,
) -> None:
    """Run the real cascade on every case of FILE... (.jsonl or .jsonl.gz) and report accuracy.

    Beside accuracy: silent misplacements (a wrong answer reported anchored/moved/changed), a
    reliability table and its expected calibration error, needs_review split into right and wrong
    guesses, per suite file and per category. Chains (meta.chain/meta.step) are scored
    sequentially, each step starting from the engine's own previous placement."""
    from benchmark_gen.cases import BadLine, Case, read_cases
    from benchmark_gen.report import plot as make_plot
    from benchmark_gen.report import print_summary, summarize
    from benchmark_gen.scorer import score_suite
    from magicmarkup.agent.resolver import LLMResolver

    logging.getLogger("benchmark_gen.cases").setLevel(logging.ERROR)  # reported below instead
    bad: list[BadLine] = []
    # `data/bench/*` may name a README beside the suites: only case files are read.
    usable = [f for f in files if f.name.endswith(CASE_SUFFIXES) or not f.exists()]
    for f in files:
        if f not in usable:
            err_console.print(f"[dim]skipping {escape(str(f))}: not a case file (.jsonl or .jsonl.gz)[/]")
    from benchmark_gen.longhistory import is_long_history

    long_files = [f for f in usable if f.exists() and is_long_history(f)]
    usable = [f for f in usable if f not in long_files]
    long_result = _score_long(long_files, limit, as_json) if long_files else None
    if long_result is not None and not usable:
        if as_json:
            print_json({"long_history": long_result})
        return
    cases: list[Case] = []
    suites: list[str] = []
    for f in usable:
        got = read_cases([f], bad)
        cases.extend(got)
        suites.extend([f.name] * len(got))
    for item in bad:
        err_console.print(f"[yellow]warning:[/] skipped malformed case {escape(str(item))}", highlight=False)
    if limit is not None:
        cases, suites = cases[:limit], suites[:limit]
    if not cases:
        raise MagicMarkupError(f"{', '.join(map(str, files))}: no cases to score")
    session = _session(no_llm)
    with (
        session.resolver() as (resolver, note),
        progress("score", disable=as_json) as report,
    ):
        run = score_suite(
            cases, resolver, session.thresholds, report, llm_concurrency=session.settings.concurrency
        )
        stats = resolver.stats() if isinstance(resolver, LLMResolver) else {}
    summary = summarize(cases, run.predictions, suites)
    if predictions is not None:
        predictions.parent.mkdir(parents=True, exist_ok=True)
        with open(predictions, "w", encoding="utf-8") as fh:
            for p in run.predictions:
                fh.write(json.dumps(p.to_json()) + "\n")
    if plot is not None:
        make_plot(summary, run.predictions, plot)
    if as_json:
        print_json(
            {
                **summary,
                "seconds": round(run.seconds, 3),
                "llm": {
                    "note": note,
                    "seconds": round(run.llm_seconds, 3),
                    "queries": run.llm_queries,  # uncertain tags handed to the LLM stage
                    **stats,  # of which skipped (an answer could not change them), p50 per call, ...
                },
                "malformed": [str(b) for b in bad],
                **({"long_history": long_result} if long_result is not None else {}),
            }
        )
        return
    print_summary(summary, console, run.seconds)
    console.print(f"[dim]{escape(note)}[/]")
    if stats.get("queries"):
        p50 = stats.get("p50_seconds_per_call")
        console.print(
            f"[dim]LLM stage: {run.llm_queries} uncertain tags, {stats.get('skipped', 0)} not asked "
            f"(an answer could not change them), {stats.get('calls', 0)} requests"
            + (f", p50 {p50} s per request" if p50 is not None else "")
            + "[/]"
        )
    if predictions is not None:
        console.print(f"predictions: {escape(str(predictions))}")
    if plot is not None:
        console.print(f"chart: {escape(str(plot))}")


@bench_group.command("generate")
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    required=True,
    help="Directory of real code (repeatable; NAME=DIR names it in meta.source).",
)
@click.option("--languages", help="Comma-separated languages (default: every language found).")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="How many cases.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed + corpus = same cases.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON.")
def generate_cmd(
    corpora: tuple[str, ...], languages: str | None, n: int, seed: int, output: Path, as_json: bool
) -> None:
    """Make cases mechanically from real code, with exact expected spans."""
    from collections import Counter

    from benchmark_gen.cases import write_cases
    from benchmark_gen.mechanical import generate, parse_corpus_arg

    langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    roots = [parse_corpus_arg(c) for c in corpora]
    cases = []
    with progress("generate", disable=as_json) as report:
        cases = list(generate(roots, n, seed, langs, report))
    written = write_cases(output, cases)
    by_lang = Counter(c.language or "none" for c in cases)
    by_cat = Counter(c.meta.get("category", "?").split(":")[0] for c in cases)
    if as_json:
        print_json({"written": written, "output": str(output), "by_language": by_lang, "by_category": by_cat})
        return
    console.print(f"wrote {written} cases to {escape(str(output))}")
    console.print("languages: " + ", ".join(f"{k} {v}" for k, v in sorted(by_lang.items())))
    console.print("kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(by_cat.items())))
    if written < n:
        err_console.print(f"[yellow]warning:[/] the corpus gave only {written} of {n} cases")


def _score_long(files: list[Path], limit: int | None, as_json: bool) -> dict[str, Any]:
    """The long-history suites (cases naming a repository bundle in `long_history/` beside the
    case file): walk vs jump vs line diff, printed unless --json."""
    from benchmark_gen.longhistory import read
    from benchmark_gen.longscore import print_report, score

    results: dict[str, Any] = {}
    for f in files:
        cases = read(f)[:limit] if limit is not None else read(f)
        with progress(f"long history {f.name}", disable=as_json) as report:
            result = score(cases, f.parent / "long_history", _session(True).thresholds, report)
        results[f.name] = result
        if not as_json:
            print_report(result, console)
    return results


@bench_group.command("generate-long")
@click.option(
    "--projects", help="Comma-separated names (default: all of longhistory_projects.LONG_PROJECTS)."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where downloaded releases are kept (default: ~/.cache/magicmarkup/realhistory).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The case file (.jsonl.gz); the repositories go to long_history/ beside it as bundles.",
)
def generate_long_cmd(projects: str | None, cache_dir: Path | None, output: Path) -> None:
    """Build the long-history suite: each project's releases (years apart) as the commits of a
    real git repository (some also as a history merged into a host under vendor/), and tags on
    definitions of the first release, their answer keys found by qualified name in the last."""
    from benchmark_gen.longhistory import generate, write
    from benchmark_gen.longhistory_projects import LONG_PROJECTS

    names = [n.strip() for n in projects.split(",")] if projects else list(LONG_PROJECTS)
    unknown = [n for n in names if n not in LONG_PROJECTS]
    if unknown:
        raise MagicMarkupError(
            f"unknown project(s): {', '.join(unknown)} (known: {', '.join(LONG_PROJECTS)})"
        )
    chosen = {n: LONG_PROJECTS[n] for n in names}
    written = write(
        generate(
            chosen,
            output.parent / "long_history",
            cache_dir,
            lambda msg: err_console.print(f"[dim]{escape(msg)}[/]"),
        ),
        output,
    )
    console.print(f"wrote {written} cases to {escape(str(output))}")


@bench_group.command("generate-real")
@click.option(
    "--projects",
    help="Comma-separated project names (default: all of benchmark_gen.realhistory.PROJECTS, "
    "or of HOLDOUT_PROJECTS with --holdout).",
)
@click.option(
    "--holdout",
    is_flag=True,
    help="Use the holdout projects (HOLDOUT_PROJECTS: never used to tune the engine) instead.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where downloaded releases are kept (default: ~/.cache/magicmarkup/realhistory).",
)
@click.option(
    "--chains",
    type=click.IntRange(min=0),
    default=None,
    help="Chains (a tag carried through every version) per project.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON.")
def generate_real_cmd(
    projects: str | None,
    holdout: bool,
    cache_dir: Path | None,
    chains: int | None,
    output: Path,
    as_json: bool,
) -> None:
    """Make cases from consecutive released versions of real projects (PyPI sdists, npm tarballs).

    Ground truth by identity: the same qualified definition, or the same statement of the same
    function, found once in both versions. Downloads are cached; same archives = same output."""
    from collections import Counter

    from benchmark_gen.cases import write_cases
    from benchmark_gen.realhistory import (
        DEFAULT_CHAINS,
        HOLDOUT_PROJECTS,
        PROJECTS,
        default_cache_dir,
        generate,
    )

    table = HOLDOUT_PROJECTS if holdout else PROJECTS
    names = [x.strip() for x in projects.split(",") if x.strip()] if projects else list(table)
    cache = cache_dir or default_cache_dir()
    with progress("generate-real", disable=as_json) as report:
        cases = list(
            generate(
                names,
                cache,
                chains=DEFAULT_CHAINS if chains is None else chains,
                progress=lambda _label, done, total: report(done, total),
                projects=table,
            )
        )
    written = write_cases(output, cases)
    by_project = Counter(str(c.meta.get("project")) for c in cases)
    by_lang = Counter(c.language or "none" for c in cases)
    by_cat = Counter(
        ("chain:" if "chain" in c.meta else "") + f"{c.meta.get('level')}:{c.category}" for c in cases
    )
    n_chains = len({c.meta["chain"] for c in cases if "chain" in c.meta})
    if as_json:
        print_json(
            {
                "written": written,
                "output": str(output),
                "chains": n_chains,
                "by_project": by_project,
                "by_language": by_lang,
                "by_category": by_cat,
            }
        )
        return
    console.print(f"wrote {written} cases ({n_chains} chains) to {escape(str(output))}")
    console.print("projects: " + ", ".join(f"{k} {v}" for k, v in sorted(by_project.items())))
    console.print("languages: " + ", ".join(f"{k} {v}" for k, v in sorted(by_lang.items())))
    console.print("kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(by_cat.items())))


@bench_group.command("generate-llm")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="How many cases to attempt.")
@click.option(
    "--languages",
    help="Comma-separated languages (default: python,javascript,typescript,java,go,rust,c,cpp).",
)
@click.option("--snippet-types", help="Comma-separated snippet types (default: all six).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests at once (default: the setting).")
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON.")
def generate_llm_cmd(
    n: int,
    languages: str | None,
    snippet_types: str | None,
    output: Path,
    seed: int,
    concurrency: int | None,
    as_json: bool,
) -> None:
    """Make cases the paper's way: an LLM invents a program, marks a snippet, and updates it.

    Resumable: cases already in OUTPUT are kept and skipped."""
    from benchmark_gen.llm_written import DEFAULT_LANGUAGES, PAPER_SNIPPET_TYPES, run_pipeline
    from magicmarkup.agent import chat_endpoint

    langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else list(DEFAULT_LANGUAGES)
    types = (
        [x.strip() for x in snippet_types.split(",") if x.strip()]
        if snippet_types
        else list(PAPER_SNIPPET_TYPES)
    )
    unknown = set(types) - set(PAPER_SNIPPET_TYPES)
    if unknown:
        raise MagicMarkupError(f"unknown snippet type(s): {', '.join(sorted(unknown))}")
    settings = _session().settings
    with chat_endpoint(settings) as endpoint:
        if endpoint is None:
            raise MagicMarkupError(
                "no LLM endpoint: set OPENAI_BASE_URL, or run `magicmarkup llm pull` for the local model"
            )
        with progress("generate-llm", disable=as_json) as report:
            result = run_pipeline(
                endpoint.new_async_client(timeout=max(settings.timeout, 900.0), max_retries=1),
                endpoint.model,
                n=n,
                languages=langs,
                snippet_types=types,
                output=output,
                seed=seed,
                concurrency=concurrency or settings.concurrency,
                progress=report,
            )
    if as_json:
        print_json({**result.to_json(), "output": str(output), "endpoint": endpoint.description})
        return
    console.print(
        f"{result.valid} valid cases written to {escape(str(output))} "
        f"({result.skipped} already there, {result.invalid} dropped)"
    )
    for reason, count in sorted(result.reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  dropped {count}: {escape(reason)}")


@bench_group.command(
    "perf",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.pass_context
def perf_cmd(ctx: click.Context) -> None:
    """Speed benchmarks (benchmark_gen.perf); arguments are passed through."""
    try:
        from benchmark_gen.perf import main as perf_main
    except ImportError as exc:
        raise MagicMarkupError(f"benchmark_gen/perf.py is not available in this build ({exc})") from None
    code = perf_main(list(ctx.args))
    if isinstance(code, int) and code:
        ctx.exit(code)
