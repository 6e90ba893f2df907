"""The ``topiclab`` command line (typer + rich).

    topiclab list                      topics, trainers, estimators
    topiclab plugins                   every plugin: distribution, version, hooks, load errors
    topiclab run diffusion --profile quick --set seed=1 --out out/
    topiclab run --all                 every topic, standard profile
    topiclab report [results/latest]   rebuild and print the index of a results folder
    topiclab ui                        Prefect and MLflow UIs on 127.0.0.1 (Ctrl-C stops both)
    topiclab serve --cron "0 3 * * *"  deployments the Prefect UI can trigger and schedule
    topiclab new-plugin my-plugin      scaffold a pip-installable plugin package

Heavy libraries (torch, prefect, mlflow) are imported inside the commands that need them, so
``topiclab --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from topiclab.app.plugin_commands import PluginCommandsGroup
from topiclab.core.errors import TopiclabError

app = typer.Typer(
    cls=PluginCommandsGroup,  # adds plugins' commands (topiclab_register_commands)
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Eight ML ideas as reproducible Prefect flows, logged to MLflow.",
)
out = Console()
err = Console(stderr=True)


def _registry() -> Any:
    from topiclab.core.environment import configure_environment
    from topiclab.core.registry import get_registry

    configure_environment()
    return get_registry()


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


@app.command("list")
def list_cmd() -> None:
    """List the registered topics, trainers and estimators."""
    reg = _registry()
    table = Table("kind", "key", "detail", "plugin", title="topiclab registry")
    for key, cls in sorted(reg.topics.items()):
        table.add_row("topic", key, cls.title, reg.owner[("topic", key)])
    for key, spec in sorted(reg.trainers.items()):
        table.add_row(
            "trainer",
            key,
            f"[{spec.task}] {_first_line(spec.summary)}",
            reg.owner[("trainer", key)],
        )
    for key, est in sorted(reg.estimators.items()):
        table.add_row(
            "estimator",
            key,
            f"[{est.kind}] {_first_line(est.summary)}",
            reg.owner[("estimator", key)],
        )
    out.print(table)


@app.command()
def plugins() -> None:
    """List every plugin with its distribution, version, hooks and load error, if any."""
    reg = _registry()
    table = Table("plugin", "distribution", "version", "hooks", "status")
    for p in reg.plugins.infos:
        hooks = ", ".join(h.removeprefix("topiclab_") for h in p.hooks)
        status = f"[red]failed: {p.error}[/red]" if p.error else ("built-in" if p.builtin else "ok")
        table.add_row(p.name, p.distribution, p.version, hooks, status)
    out.print(table)


def _validate_run(
    reg: Any, topics: list[str], profile: str, config: Path | None, overrides: list[str]
) -> None:
    """Every topic key and every config layer, checked before anything runs."""
    from topiclab.core.config import resolve_config
    from topiclab.flows.pipeline import topic_overrides

    for text in overrides:  # `--set topic:key=value` must name a topic of this run
        head, sep, _ = text.partition(":")
        if sep and "=" not in head and head not in topics:
            raise TopiclabError(
                f"--set '{text}' targets topic '{head}', which is not in this run; "
                f"topics of this run: {', '.join(topics)}"
            )
    for key in topics:
        topic = reg.topic(key)
        resolve_config(
            type(topic),
            profile,
            config,
            topic_overrides(key, overrides),
            multi_topic_toml=len(topics) > 1,
        )


def _print_summary(entries: list[dict[str, Any]], out_dir: Path) -> None:
    table = Table("topic", "status", "claims", "seconds", "cached stages", title="run summary")
    for e in entries:
        status = "[green]ok[/green]" if e["status"] == "ok" else f"[red]{e['status']}[/red]"
        claims = f"{e['claims_passed']}/{e['claims_total']}" if e["status"] == "ok" else "—"
        table.add_row(
            e["topic"],
            status,
            claims,
            f"{e.get('seconds', 0):.1f}",
            ", ".join(e.get("cached", [])) or "—",
        )
    out.print(table)
    import os

    from topiclab.core.environment import default_tracking_uri

    index = out_dir / "index.html"
    out.print(f"report:   {index if index.exists() else out_dir}")
    out.print(f"results:  {out_dir}")
    out.print(
        "UIs:      topiclab ui   (Prefect http://127.0.0.1:4200, MLflow http://127.0.0.1:5000)"
    )
    out.print(f"tracking: {os.environ.get('MLFLOW_TRACKING_URI', default_tracking_uri())}")


def _entries_from(out_dir: Path, topics: list[str]) -> list[dict[str, Any]]:
    import json

    entries: list[dict[str, Any]] = []
    for key in topics:
        path = out_dir / key / "metrics.json"
        if not path.exists():
            entries.append({"topic": key, "status": "failed"})
            continue
        data = json.loads(path.read_text())
        entries.append(
            {
                "topic": key,
                "status": "ok",
                "seconds": data["seconds"],
                "claims_passed": sum(c["passed"] for c in data["claims"]),
                "claims_total": len(data["claims"]),
                "report": True,
                "cached": data.get("cached_stages", []),
            }
        )
    return entries


@app.command()
def run(
    topics: Annotated[
        list[str] | None, typer.Argument(help="Topic keys (see `topiclab list`).")
    ] = None,
    all_topics: Annotated[bool, typer.Option("--all", help="Run every registered topic.")] = False,
    profile: Annotated[str, typer.Option(help="quick | standard | full")] = "standard",
    config: Annotated[Path | None, typer.Option(help="TOML file with config values.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="key=value override; topic:key=value for one topic of several."),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute every stage.")] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Run independent topics in this many processes at once.")
    ] = 1,
    dask_address: Annotated[
        str | None,
        typer.Option(help="Run topics on this Dask scheduler (tcp://host:8786); needs a server."),
    ] = None,
) -> None:
    """Run topics: generate -> train -> evaluate -> report, tracked in MLflow."""
    reg = _registry()
    keys = sorted(reg.topics) if all_topics else list(topics or [])
    if not keys:
        raise TopiclabError(f"name a topic or pass --all; topics: {', '.join(sorted(reg.topics))}")
    overrides = list(set_ or [])
    reg.hook.topiclab_preflight(topics=keys)  # trackers' stores: one line, before any compute
    _validate_run(reg, keys, profile, config, overrides)

    from topiclab.core.outputs import resolve_out_dir
    from topiclab.core.report import write_index
    from topiclab.flows.pipeline import SuiteFailed, suite, topic_pipeline

    target = resolve_out_dir(out_dir)
    cfg = str(config) if config else None
    failed = False
    try:
        if len(keys) == 1:
            topic_pipeline(keys[0], profile, overrides, cfg, str(target), not no_cache)
            # The index covers every topic in the folder, not only the one just run.
            shown = sorted(set(keys) | {p.parent.name for p in target.glob("*/metrics.json")})
            write_index(target, _entries_from(target, shown))
        else:
            suite(keys, profile, overrides, cfg, str(target), not no_cache, workers, dask_address)
    except SuiteFailed as exc:
        err.print(f"[red]error:[/red] {exc}")
        failed = True
    except Exception as exc:
        err.print(
            f"[red]error:[/red] {keys[0]} failed: {type(exc).__name__}: {exc}".splitlines()[0]
        )
        failed = True
    _print_summary(_entries_from(target, keys), target)
    if failed:
        raise typer.Exit(1)


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A results folder.")] = Path("results/latest"),
) -> None:
    """Rebuild the index of a results folder from its metrics.json files and print it."""
    if not results.is_dir():
        raise TopiclabError(f"results folder '{results}' does not exist; run `topiclab run` first")
    from topiclab.core.report import write_index

    keys = sorted(p.parent.name for p in results.glob("*/metrics.json"))
    if not keys:
        raise TopiclabError(f"no */metrics.json under '{results}'")
    entries = _entries_from(results, keys)
    write_index(results, entries)
    _print_summary(entries, results.resolve())


@app.command()
def ui(prefect_port: int = 4200, mlflow_port: int = 5000) -> None:
    """Start a local Prefect server and the MLflow UI on 127.0.0.1; Ctrl-C stops both."""
    from topiclab.app.servers import run_uis

    _registry()
    run_uis(prefect_port, mlflow_port, out)


@app.command()
def serve(
    cron: Annotated[
        str | None, typer.Option(help="Cron schedule for the suite, e.g. '0 3 * * *'.")
    ] = None,
    topic_cron: Annotated[str | None, typer.Option(help="Cron schedule for each topic.")] = None,
    profile: str = "standard",
) -> None:
    """Serve a deployment per topic and one for the suite (trigger them from the Prefect UI)."""
    from topiclab.app.deploy import serve_deployments
    from topiclab.core.config import profile_values

    reg = _registry()
    for cls in reg.topics.values():
        profile_values(cls, profile)  # an unknown profile fails now, not at each run
    serve_deployments(sorted(reg.topics), profile, cron, topic_cron, out)


@app.command("new-plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(help="Package name, e.g. my-plugin.")],
    directory: Annotated[Path, typer.Option(help="Where to create it.")] = Path("."),
) -> None:
    """Scaffold a pip-installable plugin: entry point, a trainer, a topic and their test."""
    from topiclab.app.scaffold import scaffold_plugin

    root = scaffold_plugin(name, directory)
    out.print(
        f"created {root}\n  pip install -e {root}\n  topiclab plugins\n  pytest {root / 'tests'}"
    )


def main() -> None:
    try:
        app()
    except TopiclabError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
