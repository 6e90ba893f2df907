"""The ``topiclab`` command line (typer + rich).

    topiclab list                      topics, trainers, estimators
    topiclab plugins                   every plugin: distribution, version, hooks, load errors
    topiclab run diffusion --profile quick --set seed=1 --out out/
    topiclab run --all                 every topic, standard profile
    topiclab --version
    topiclab report [results/latest]   rebuild and print the index of a results folder
    topiclab report results            rebuild results/index.html, the page of every run
    topiclab ui                        Prefect and MLflow UIs on 127.0.0.1 (Ctrl-C stops both)
    topiclab serve --cron "0 3 * * *"  deployments the Prefect UI can trigger and schedule
    topiclab new-plugin my-plugin      scaffold a pip-installable plugin package
    topiclab cache list                the cached stage folders; `cache clean` removes them

Heavy libraries (torch, prefect, mlflow) are imported inside the commands that need them, so
``topiclab --help`` stays fast.
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from topiclab.app.cache_cmd import cache_app
from topiclab.app.plugin_commands import PluginCommandsGroup
from topiclab.app.preflight import (
    check_config_tables,
    check_home_layout,
    check_results_root,
    check_writable,
)
from topiclab.app.signals import Stopped, raise_on_sigterm
from topiclab.app.summary import entries_from, finish_run, print_summary
from topiclab.core.errors import ConfigError, DiskFullError, TopiclabError

app = typer.Typer(
    cls=PluginCommandsGroup,  # adds plugins' commands (topiclab_register_commands)
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help=(
        "ML ideas as reproducible Prefect flows (generate -> train -> evaluate -> report), "
        "tracked in MLflow. `topiclab list` shows the registered topics.\n\n"
        "Example: topiclab run ridge --profile quick"
    ),
)
app.add_typer(cache_app, name="cache", short_help="See and clean the stage cache.")
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.print(f"topiclab {version('topiclab')}", highlight=False)
        except PackageNotFoundError:
            out.print("topiclab (not installed as a distribution)")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


def _registry() -> Any:
    from topiclab.core.environment import configure_environment, topiclab_home
    from topiclab.core.registry import get_registry

    try:
        configure_environment()  # creates the home folder
    except OSError as exc:
        home = topiclab_home()
        raise TopiclabError(f"TOPICLAB_HOME '{home}' cannot be created: {exc.strerror}") from None
    return get_registry()


# Full stops that end no sentence: "Rendle et al. 2009", "e.g. a U-Net".
_NOT_AN_END = re.compile(r"(?<![\w.])(et al|e\.g|i\.e|cf|vs)\.$", re.IGNORECASE)


def _first_sentence(text: str) -> str:
    """The first sentence of a (possibly wrapped) docstring or summary, whole: a full stop
    inside parentheses or after an abbreviation (et al., e.g., i.e., cf., vs.) ends none."""
    flat = " ".join(text.split())
    depth = 0
    for i, char in enumerate(flat):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif (
            char == "."
            and flat[i + 1 : i + 2] == " "
            and depth == 0
            and not _NOT_AN_END.search(flat[: i + 1])
        ):
            return flat[: i + 1]
    return flat


@app.command("list", short_help="Registered topics, trainers and estimators.")
def list_cmd() -> None:
    """List the registered topics, trainers and estimators, with the plugin of each.

    Example: topiclab list
    """
    reg = _registry()
    table = Table("kind", "key", "detail", "plugin", title="topiclab registry")
    table.columns[2].overflow = "fold"  # wrap long sentences, never cut them with an ellipsis

    # Plugins name and describe these: "[generative]" or a "[" in a summary is text, not markup.
    def row(kind: str, key: str, detail: str) -> None:
        table.add_row(kind, escape(key), escape(detail), escape(str(reg.owner[(kind, key)])))

    for key, cls in sorted(reg.topics.items()):
        row("topic", key, cls.title)
    for key, spec in sorted(reg.trainers.items()):
        row("trainer", key, f"[{spec.task}] {_first_sentence(spec.summary)}")
    for key, est in sorted(reg.estimators.items()):
        row("estimator", key, f"[{est.kind}] {_first_sentence(est.summary)}")
    out.print(table, highlight=False)
    out.print(
        f"{len(reg.topics)} topics, {len(reg.trainers)} trainers, {len(reg.estimators)} "
        f"estimators from {len(reg.plugins.infos)} plugins"
    )


@app.command(short_help="The DAG of topics, trainers and estimators.")
def graph(
    fmt: Annotated[
        str, typer.Option("--format", help="tree (the terminal) or mermaid (for docs).")
    ] = "tree",
    profile: Annotated[str, typer.Option(help="The profile whose configs name the keys.")] = (
        "standard"
    ),
) -> None:
    """Show which topic consumes which topic's output, and the trainers and estimators each
    topic's config names (with the plugin that provides each).

    Example: topiclab graph --format mermaid > docs/images/graph.mmd
    """
    from rich.tree import Tree

    from topiclab.app.graph import edges, mermaid

    if fmt not in {"tree", "mermaid"}:
        raise TopiclabError(f"unknown --format '{fmt}'; choose from: mermaid, tree")
    reg = _registry()
    if fmt == "mermaid":
        print(mermaid(reg, profile))
        return
    tree = Tree("topics")
    all_edges = edges(reg, profile)
    for key in sorted(reg.topics):
        branch = tree.add(f"[bold]{key}[/bold]")
        for e in (e for e in all_edges if e.source == key):
            name = e.target.partition(":")[2] or e.target
            branch.add(f"{e.kind} {name}  [dim]{escape(e.label)}[/dim]")
    out.print(tree)


@app.command(short_help="Plugins: versions, hooks, load errors.")
def plugins() -> None:
    """List every plugin with its distribution, version, hooks and load error, if any.

    Example: TOPICLAB_BLOCK_PLUGINS=my-plugin topiclab plugins
    """
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
    """Every topic key and every config layer, checked before anything runs: those of
    ``topics`` and of the upstream topics they consume (the run computes or reuses them with
    the same overrides, ``core.dag.identity``)."""
    from topiclab.core.config import load_toml, resolve_config
    from topiclab.core.dag import (
        check_upstream,
        override_hint,
        topic_overrides,
        upstream_topics,
        with_upstream,
    )

    everything = with_upstream(reg, topics)  # an unknown topic: a one-line error
    for text in overrides:  # `--set topic:key=value` must name a topic of this run
        head, sep, _ = text.partition(":")
        if sep and "=" not in head and head not in everything:
            raise TopiclabError(
                f"--set '{text}' targets topic '{head}', which is not in this run; "
                f"topics of this run: {', '.join(everything)}"
            )
    if config is not None:
        data = load_toml(config)
        check_config_tables(config, data, [reg.topic(k) for k in topics], set(reg.topics))
    resolved = {}
    for key in everything:
        try:
            resolved[key] = resolve_config(
                type(reg.topic(key)),
                profile,
                config,
                topic_overrides(key, overrides),
                # an upstream topic reads the file as a suite does (``core.dag.identity``)
                multi_topic_toml=len(topics) > 1 or key not in topics,
                other_topics=set(reg.topics) - {key},
            )
        except ConfigError as err:
            text = str(err)
            if text.startswith("unknown config key"):  # the key may be another topic's
                hints = (
                    override_hint(reg, key, t, everything, refused=text)
                    for t in topic_overrides(key, overrides)
                )
                text = "; ".join([text, *filter(None, hints)][:2])
            # several topics share --set and --config: say which one refused the value
            raise ConfigError(text if len(everything) == 1 else f"topic '{key}': {text}") from None
    for key in everything:  # an upstream config its consumer cannot use: before it trains
        ups = {up: resolved[up].model_dump(mode="json") for up in upstream_topics(reg, key)}
        try:
            check_upstream(reg, key, resolved[key], ups)
        except ConfigError as err:
            raise ConfigError(f"topic '{key}': {err}") from None


RUN_EXAMPLES = """Examples:

  topiclab run ridge --profile quick

  topiclab run causal-iv --set seed=3 --out out/iv

  topiclab run --all --profile quick --config my.toml --set llama:steps=50

The Prefect server used is, in order: PREFECT_API_URL, a running `topiclab ui` of this
TOPICLAB_HOME (on the port its ui.json names, else 127.0.0.1:$TOPICLAB_PREFECT_PORT,
default 4200), else one started for this run.
Every run without --out is listed in results/index.html (newest first).
Library logs go to $TOPICLAB_HOME/logs/. Ctrl-C ends the run (exit 130; SIGTERM: 143);
the same command again resumes from the last finished stage."""


@app.command(epilog=RUN_EXAMPLES, short_help="Run topics, tracked in MLflow.")
def run(
    topics: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TOPIC", help="Topic keys to run, e.g. ridge (see `topiclab list`)."
        ),
    ] = None,
    all_topics: Annotated[
        bool, typer.Option("--all", help="Run every registered topic, one after the other.")
    ] = False,
    profile: Annotated[
        str,
        typer.Option(
            help="quick (seconds: checks the code paths), standard, or full (the paper's sizes)."
        ),
    ] = "standard",
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of config values; a [topic] table applies to that topic only."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a config value: --set seed=1; --set ridge:steps=50 for one topic.",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder; default results/<timestamp> with results/latest pointing at it.",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute every stage instead of reusing it.")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Run independent topics in this many processes at once.")
    ] = 1,
    dask_address: Annotated[
        str | None,
        typer.Option(help="Run topics on this Dask scheduler (tcp://host:8786); needs a server."),
    ] = None,
) -> None:
    """Run topics: generate -> train -> evaluate -> report, tracked in MLflow."""
    from topiclab.core.environment import topiclab_home

    # Paths first: they take milliseconds, and nothing here creates anything.
    check_writable(topiclab_home(), "TOPICLAB_HOME")
    if out_dir is not None:
        check_writable(out_dir, "--out")
    else:
        check_results_root(Path("results"))
    reg = _registry()
    keys = sorted(reg.topics) if all_topics else list(topics or [])
    if not keys:
        raise TopiclabError(f"name a topic or pass --all; topics: {', '.join(sorted(reg.topics))}")
    check_home_layout(topiclab_home(), keys)
    overrides = list(set_ or [])
    _validate_run(reg, keys, profile, config, overrides)  # the user's input first: it is cheap
    try:
        target, log, failed, started = _execute(
            keys,
            profile,
            config,
            overrides,
            out_dir,
            no_cache,
            workers,
            dask_address,
            # trackers' stores: one line, before any compute (MLflow's migrations on a new home)
            preflight=lambda: reg.hook.topiclab_preflight(topics=keys),
        )
    except KeyboardInterrupt as exc:  # click would turn it into "Aborted!" and exit code 1
        raise Stopped(signal.SIGINT) from exc
    finish_run(out, target, keys, started, log)
    if failed:
        raise typer.Exit(1)


def _execute(
    keys: list[str],
    profile: str,
    config: Path | None,
    overrides: list[str],
    out_dir: Path | None,
    no_cache: bool,
    workers: int = 1,
    dask_address: str | None = None,
    preflight: Callable[[], object] = lambda: None,
) -> tuple[Path, Path, bool, float]:
    """The flows, against the chosen Prefect server, with library logs in a file.

    ``preflight`` and the flows' imports run while a Prefect server started for this run
    boots, in its own process: on two cores the two start-ups overlap (``prefect_api``)."""
    from topiclab.app.prefect_api import prefect_api

    def prepare() -> None:
        preflight()
        import topiclab.flows.pipeline  # noqa: F401  (Prefect's and our flows: about 1 s)

    def announce(line: str) -> None:
        out.print(line, highlight=False, soft_wrap=True)

    with prefect_api(meanwhile=prepare, announce=announce) as api:
        from topiclab.app.logfile import library_log, new_log_path
        from topiclab.app.prefect_api import using
        from topiclab.core.outputs import resolve_out_dir
        from topiclab.flows.pipeline import Profile, SuiteFailed, suite, topic_pipeline

        cfg = str(config) if config else None
        profile_ = cast(Profile, profile)  # _validate_run checked it
        out.print(api.describe(), highlight=False, soft_wrap=True)
        started = time.time() - 1  # mtimes can be coarser than time.time()
        target = resolve_out_dir(out_dir)
        with using(api), library_log(new_log_path("run"), err) as log:
            _pipeline_started()
            try:
                if len(keys) == 1:
                    topic_pipeline(keys[0], profile_, overrides, cfg, str(target), not no_cache)
                else:
                    suite(
                        keys,
                        profile_,
                        overrides,
                        cfg,
                        str(target),
                        not no_cache,
                        workers,
                        dask_address,
                    )
            except SuiteFailed as exc:
                err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
                return target, log, True, started
            except DiskFullError:
                raise  # one line from main(); the index cannot be written either
            except Exception as exc:
                line = f"{keys[0]} failed: {type(exc).__name__}: {exc}".splitlines()[0]
                err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
                return target, log, True, started
    return target, log, False, started


@app.command(short_help="Rebuild and print a results index.")
def report(
    results: Annotated[
        Path,
        typer.Argument(
            help="A run's folder (results/latest, the --out of a run), or the results folder "
            "itself (results) for the page of all runs."
        ),
    ] = Path("results/latest"),
) -> None:
    """Rebuild the index of a results folder from its metrics.json files and print it; the
    page of all runs (results/index.html) is rebuilt too.

    Example: topiclab report out/iv
    """
    if results.exists() and not results.is_dir():
        raise TopiclabError(f"'{results}' is a file, not a folder: pass a run's results folder")
    if not results.is_dir():
        raise TopiclabError(f"results folder '{results}' does not exist; run `topiclab run` first")
    from topiclab.core.home import update_home, write_home
    from topiclab.core.report import write_index

    keys = sorted(p.parent.name for p in results.glob("*/metrics.json"))
    if not keys and any(results.glob("*/*/metrics.json")):  # the folder of all runs
        home = write_home(results)
        out.print(f"all runs: {home.resolve().as_uri()}", soft_wrap=True)
        return
    if not keys and (results / "metrics.json").is_file():  # one topic's folder of a run
        raise TopiclabError(
            f"'{results}' is a topic folder of a run; pass the run's folder: "
            f"topiclab report '{results.resolve().parent}'"
        )
    if not keys:
        raise TopiclabError(f"no */metrics.json under '{results}'")
    entries = entries_from(results, keys, strict=True)  # before anything is written
    write_index(results, entries)
    update_home(results)
    print_summary(out, entries, results.resolve(), None)


@app.command(short_help="Prefect and MLflow UIs on 127.0.0.1.")
def ui(
    prefect_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the Prefect server (default $TOPICLAB_PREFECT_PORT or 4200); "
            "`topiclab run` of this TOPICLAB_HOME finds it through ui.json."
        ),
    ] = None,
    mlflow_port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
) -> None:
    """Start a Prefect server and the MLflow UI on 127.0.0.1; Ctrl-C stops both.

    While it runs, `topiclab run` of the same TOPICLAB_HOME uses this Prefect server instead
    of starting one (faster, and runs show up in the UI); it records both URLs in
    $TOPICLAB_HOME/ui.json, where runs find it and read their MLflow links.
    Example: topiclab ui --mlflow-port 5001
    """
    from topiclab.app.prefect_api import checked_port, ui_port
    from topiclab.app.servers import run_uis

    # 0 used to mean the default port, and 70000 was a traceback from the port check.
    prefect = ui_port() if prefect_port is None else checked_port("--prefect-port", prefect_port)
    mlflow = checked_port("--mlflow-port", mlflow_port)
    _registry()
    run_uis(prefect, mlflow, out)


@app.command(short_help="Deployments for the Prefect UI.")
def serve(
    cron: Annotated[
        str | None,
        typer.Option(help="Cron schedule for the suite of all topics, e.g. '0 3 * * *'."),
    ] = None,
    topic_cron: Annotated[
        str | None, typer.Option(help="Cron schedule for each topic's own deployment.")
    ] = None,
    profile: Annotated[
        str, typer.Option(help="Profile the deployments run with: quick, standard or full.")
    ] = "standard",
) -> None:
    """Serve a deployment per topic and one for the suite (trigger them from the Prefect UI).

    Needs a running Prefect server (`topiclab ui`). Results go to $TOPICLAB_HOME/results.
    Example: topiclab serve --profile quick --cron "0 3 * * *"
    """
    from topiclab.app.deploy import serve_deployments
    from topiclab.core.config import profile_values

    reg = _registry()
    for cls in reg.topics.values():
        profile_values(cls, profile)  # an unknown profile fails now, not at each run
    serve_deployments(sorted(reg.topics), profile, cron, topic_cron, out)


@app.command("new-plugin", short_help="Scaffold a pip-installable plugin.")
def new_plugin(
    name: Annotated[str, typer.Argument(help="Package name, e.g. my-plugin.")],
    directory: Annotated[Path, typer.Option(help="Folder to create the package in.")] = Path("."),
) -> None:
    """Scaffold a pip-installable plugin: a topic in the eight-file shape of every topic
    plugin, a trainer, an entry point and a test of the quick pipeline.

    Example: topiclab new-plugin my-plugin --directory ~/src
    """
    from topiclab.app.scaffold import scaffold_plugin

    root = scaffold_plugin(name, directory)
    out.print(  # the commands stay whole lines however long the path: to copy in one piece
        escape(
            f"created {root}\n  pip install -e '{root}[test]'\n  topiclab plugins\n"
            f"  topiclab run {name} --profile quick\n  python -m pytest {root / 'tests'}"
        ),
        soft_wrap=True,
        highlight=False,
    )


_exit_code = 1  # set once the command is done; an uncaught exception leaves 1
_pipeline_ran = False  # only then does a signal leave a FAILED run to resume


def _pipeline_started() -> None:
    global _pipeline_ran
    _pipeline_ran = True


def _skip_finalization() -> None:
    """Registered first, so it runs after every other exit handler (Prefect's workers are
    drained, MLflow's runs closed): what is left is the interpreter's teardown of torch,
    MLflow and Prefect modules, 4-6 s of nothing on a loaded 2-core machine."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_code)


def main() -> None:
    global _exit_code
    import atexit

    atexit.register(_skip_finalization)
    raise_on_sigterm()
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stuck run is waiting on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        app()
    except SystemExit as exc:
        _exit_code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        raise
    except TopiclabError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        _exit_code = 2
        sys.exit(2)
    except Stopped as exc:
        resume = ": the run is marked FAILED; the same command resumes from the last finished stage"
        err.print(
            f"[red]stopped[/red] by {signal.Signals(exc.signum).name}"
            + (resume if _pipeline_ran else ""),
            highlight=False,
            soft_wrap=True,
        )
        # What matters is done: the MLflow run is closed, the Prefect server stopped and its
        # log queue drained. Interpreter teardown (Prefect's and MLflow's background threads)
        # takes 3-4 s more on a loaded 2-core machine, past the 5 s a signal may take.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exc.code)


if __name__ == "__main__":
    main()
