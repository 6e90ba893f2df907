"""The command line as a user runs it (a real subprocess): fast, one-line failures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app.clirun import fresh_env

from topiclab.app import scaffold

REPO = Path(__file__).resolve().parents[2]


def topiclab(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    # REPO first on the path: the checkout under test, not whichever topiclab is installed
    path = os.pathsep.join([str(REPO), str(REPO / "tests")])
    return subprocess.run(
        [sys.executable, "-m", "topiclab.app.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path, "COLUMNS": "250", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from topiclab.app.cli import app; "
        "print(sorted(m for m in ('torch','mlflow','prefect','dowhy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_topic_fails_fast_and_writes_nothing(tmp_path):
    start = time.perf_counter()
    proc = topiclab("run", "nosuch", cwd=tmp_path)
    line = one_line_error(proc)
    assert "unknown topic 'nosuch'; choose from:" in line and "ridge" in line
    assert time.perf_counter() - start < 60
    assert not (tmp_path / "results").exists()


def test_unknown_config_key_and_bad_value(tmp_path):
    line = one_line_error(topiclab("run", "ridge", "--set", "no.such=1", cwd=tmp_path))
    assert "unknown config key 'no'" in line and "valid keys:" in line
    line = one_line_error(topiclab("run", "ridge", "--set", "steps=-3", cwd=tmp_path))
    assert "invalid value for 'steps'" in line
    line = one_line_error(topiclab("run", "ridge", "--profile", "huge", cwd=tmp_path))
    assert "unknown profile 'huge'; choose from: quick, standard, full" in line
    line = one_line_error(topiclab("run", "ridge", "--set", "rigde:seed=1", cwd=tmp_path))
    assert "targets topic 'rigde', which is not in this run" in line
    line = one_line_error(topiclab("run", "ridge", "causal-iv", "--set", "seed=x", cwd=tmp_path))
    assert line.startswith("error: topic 'ridge': invalid value for 'seed'"), line
    line = one_line_error(topiclab("run", "ridge", "--config", "missing.toml", cwd=tmp_path))
    assert "config file 'missing.toml' does not exist" in line
    assert not (tmp_path / "results").exists()


def test_broken_plugin_reported_while_others_still_work():
    env = {"TOPICLAB_PLUGINS": "support.broken_plugin"}
    proc = topiclab("plugins", env=env)
    assert proc.returncode == 0
    assert "support.broken_plugin" in proc.stdout and "failed" in proc.stdout
    listing = topiclab("list", env=env)
    assert listing.returncode == 0 and "ridge" in listing.stdout
    line = one_line_error(topiclab("list", env={**env, "TOPICLAB_STRICT_PLUGINS": "1"}))
    assert "plugin 'support.broken_plugin' failed to load" in line


@pytest.mark.e2e
def test_new_plugin_scaffold_installs_and_runs_end_to_end(tmp_path, prefect_harness):
    """The generated package has the eight-file shape, installs with pip (entry point found),
    is listed by `topiclab plugins`, runs its quick pipeline through Prefect and MLflow with
    every claim confirmed, and its own tests pass."""
    proc = topiclab("new-plugin", "my-plugin", "--directory", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "my-plugin"
    modules = {p.name for p in (root / "src" / "my_plugin").glob("*.py")}
    assert modules == {f"{m}.py" for m in scaffold.MODULES}
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    installed = subprocess.run(
        [*pip, "--no-index", "--target", str(site), str(root)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    path = os.pathsep.join([str(REPO), str(REPO / "tests"), str(site)])
    env = fresh_env(tmp_path, PYTHONPATH=path, PREFECT_API_URL=prefect_harness)
    listing = topiclab("plugins", env=env)
    assert re.search(r"my-plugin\s.*my-plugin\s.*0\.1\.0\s.*ok", listing.stdout), listing.stdout
    out = tmp_path / "out"
    run = topiclab("run", "my-plugin", "--profile", "quick", "--out", str(out), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    claims = json.loads((out / "my-plugin" / "metrics.json").read_text())["claims"]
    assert [c["id"] for c in claims] == ["mean-matches", "spread-matches"]
    assert all(c["passed"] for c in claims), claims
    assert (out / "my-plugin" / "figures" / "histogram.png").exists()
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        env=env,
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert test.returncode == 0, test.stdout[-3000:]
    again = topiclab("new-plugin", "my-plugin", "--directory", str(tmp_path))
    assert "already exists" in one_line_error(again)


def test_version_and_help_with_examples():
    version = topiclab("--version")
    assert version.returncode == 0 and version.stdout.startswith("topiclab ")
    for command in ("run", "report", "list", "serve", "ui", "new-plugin"):
        proc = topiclab(command, "--help")
        assert proc.returncode == 0 and "Example" in proc.stdout, (command, proc.stdout)
    main = topiclab("--help").stdout
    assert "Eight" not in main and "three" not in main  # counts come from `topiclab list`
    assert (
        "..." not in main.split("Commands:")[1]
    )  # each command's line is a whole sentence, not cut mid-word


def test_list_counts_and_whole_sentences():
    proc = topiclab("list")
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout  # nothing cut with an ellipsis
    assert re.search(r"\d+ topics, \d+ trainers, \d+ estimators from \d+ plugins", proc.stdout)
    rows = {line.split("│")[2].strip(): line for line in proc.stdout.splitlines() if "│" in line}
    assert "│ [generative] DDPM (ε-prediction" in rows["ddpm"]  # the tag is text, not markup
    assert "│ [recommender] BPR matrix factorisation (Rendle et al. 2009) " in rows["bpr-mf"]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("BPR matrix factorisation (Rendle et al. 2009)", None),
        ("Fits a U-Net, e.g. for images. Then more.", "Fits a U-Net, e.g. for images."),
        ("A (see Fig. 2. of the paper) net.\n  Two.", "A (see Fig. 2. of the paper) net."),
        (
            "Ridge vs. lasso; cf. Hastie et al. Section 3. Next.",
            "Ridge vs. lasso; cf. Hastie et al. Section 3.",
        ),
        ("One. Two.", "One."),
        ("No full stop", None),
    ],
)
def test_first_sentence_is_not_cut_at_abbreviations_or_in_parentheses(text, first):
    from topiclab.app.cli import _first_sentence

    assert _first_sentence(text) == (first or " ".join(text.split()))


@pytest.mark.e2e
def test_run_quick_end_to_end_prints_summary(tmp_path):
    """A quick ridge run: exit 0 although another topic's metrics.json in --out is corrupt;
    the terminal shows the Prefect server used, the summary and deep links, and no library
    noise (that goes to the log file)."""
    out = tmp_path / "out"
    (out / "other").mkdir(parents=True)
    (out / "other" / "metrics.json").write_text('{"claims": [')  # truncated
    proc = topiclab(
        "run", "ridge", "--profile", "quick", "--out", str(out),
        env=fresh_env(tmp_path), cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run summary" in proc.stdout and "ridge" in proc.stdout
    assert "Prefect: http://127.0.0.1:" in proc.stdout and "started for this run" in proc.stdout
    assert (out / "ridge" / "report.html").as_uri() in proc.stdout
    terminal = proc.stdout + proc.stderr
    for noise in ("Successfully registered", "Starting temporary server", "Pickle", "INFO"):
        assert noise not in terminal, noise
    log = Path(re.search(r"log: +(\S+)", proc.stdout).group(1))  # type: ignore[union-attr]
    assert "Successfully registered model" in log.read_text()
    assert (out / "ridge" / "metrics.json").exists()
    index = (out / "index.html").read_text()
    assert "unreadable" in index and "<td>ridge</td>" in index
    report = topiclab("report", str(out / "ridge" / ".."), env=fresh_env(tmp_path))
    assert report.returncode == 2  # report is strict: the corrupt file is named
    (out / "other" / "metrics.json").unlink()
    report = topiclab("report", str(out), env=fresh_env(tmp_path))
    assert report.returncode == 0 and "2/2" in report.stdout


def test_set_may_target_an_upstream_topic_the_run_computes(plugin_env) -> None:
    """`topiclab run compression` runs llama first with the run's overrides, as a suite
    would (`--set llama:train.steps=50`, docs/architecture.md): such a --set is accepted,
    and a bad value for it is refused before anything runs, naming llama."""
    from topiclab.app.cli import _validate_run
    from topiclab.core.errors import ConfigError, TopiclabError
    from topiclab.core.registry import get_registry

    reg = get_registry()
    _validate_run(reg, ["compression"], "quick", None, ["llama:eval.decode_tokens=16"])
    with pytest.raises(ConfigError, match=r"^topic 'llama': invalid value for 'train.steps'"):
        _validate_run(reg, ["compression"], "quick", None, ["llama:train.steps=-5"])
    with pytest.raises(TopiclabError, match="targets topic 'ridge', which is not in this run"):
        _validate_run(reg, ["compression"], "quick", None, ["ridge:seed=1"])


@pytest.mark.parametrize(
    "topic, override, message",
    [
        ("compression", "llama:tokenizer.kind=sentencepiece", "'llama:tokenizer.kind': compr"),
        ("compression", 'llama:data.val_plays=["hamlet"]', "'plays': ['tempest', 'twelfth_night']"),
        ("compression", 'llama:data.source="pydoc"', "'llama:data.source': compression codes"),
        ("rl-llm", "llama:tokenizer.kind=sentencepiece", "'llama:tokenizer.kind': rl-llm needs"),
        ("rl-llm", "rl-llm:lm.new_tokens=57", "'llama:model.seq_len': 64 tokens, fewer than"),
    ],
)
def test_an_upstream_config_its_consumer_cannot_use_is_refused_before_it_trains(
    plugin_env, topic: str, override: str, message: str
) -> None:
    """The run trained llama (minutes on standard) and only then failed in the consumer's
    first stage; the consumer's ``check_upstream`` refuses it with the configs resolved."""
    from topiclab.app.cli import _validate_run
    from topiclab.core.dag import identity
    from topiclab.core.errors import ConfigError
    from topiclab.core.registry import get_registry

    reg = get_registry()
    with pytest.raises(ConfigError) as info:
        _validate_run(reg, [topic], "quick", None, [override])
    text = str(info.value)
    assert text.startswith(f"topic '{topic}': invalid value for {message}"), text
    assert "\n" not in text
    with pytest.raises(ConfigError, match=f"^invalid value for {re.escape(message)}"):
        identity(reg, topic, "quick", [override])  # what the flow resolves before the upstream
    _validate_run(reg, [topic], "quick", None, ["llama:eval.decode_tokens=16"])


@pytest.mark.parametrize(
    "topic, override, hint",
    [
        # a bare --set goes to llama too, which refused it naming no other topic
        (
            "compression",
            "max_bytes=3000",
            "'max_bytes' is a key of compression: --set compression:max_bytes=3000",
        ),
        (
            "compression",
            "llama:max_bytes=3000",
            "'max_bytes' is a key of compression: --set compression:max_bytes=3000",
        ),
        (
            "compression",
            "train.steps=5",
            "'train.steps' is a key of llama: --set llama:train.steps=5",
        ),
        (
            "causal-iv",
            "max_bytes=3",
            "'max_bytes' is a key of compression, which this run does not include",
        ),
        (
            "compression",
            "max_byte=5",
            "did you mean --set compression:max_bytes=5 or --set compression:modal_bytes=5?",
        ),
        ("compression", "sedd=3", "did you mean --set seed=3?"),  # every topic has it: bare
        ("causal-iv", "sedd=3", "did you mean --set seed=3?"),
    ],
)
def test_an_unknown_set_key_says_how_to_spell_it(
    plugin_env, topic: str, override: str, hint: str
) -> None:
    from topiclab.app.cli import _validate_run
    from topiclab.core.errors import ConfigError
    from topiclab.core.registry import get_registry

    with pytest.raises(ConfigError) as info:
        _validate_run(get_registry(), [topic], "quick", None, [override])
    text = str(info.value)
    assert "unknown config key" in text and text.endswith(f"; {hint}"), text


def _waiters(lock: Path) -> int:
    """How many processes wait on ``lock`` now (``->`` lines of Linux's ``/proc/locks``)."""
    st = lock.stat()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    rows = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
    return sum(1 for fields in rows if fields[1:2] == ["->"] and dev in fields)


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's /proc/locks")
def test_a_run_waiting_for_a_stage_lock_says_so_at_the_terminal(
    plugin_env, prefect_harness, tmp_path
):
    """`topiclab run --no-cache` while another run computes its first stage: it waits for
    that stage's lock, and the terminal (not only the Prefect log) says why it stands still."""
    from app.clirun import cli

    from topiclab.core.cache import scan
    from topiclab.core.locks import file_lock
    from topiclab.core.stages import run_direct

    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads")
    env = fresh_env(tmp_path, TOPICLAB_PLUGINS="support.stage_reads")
    env["PREFECT_API_URL"] = prefect_harness
    work = Path(env["TOPICLAB_HOME"]) / "work"
    run_direct("counted", "quick", None, work, use_cache=True)  # makes the stage folders
    lock = next(e.lock for e in scan(work) if e.stage == "generate")
    with file_lock(lock):  # another run computing generate
        proc = subprocess.Popen(
            [*cli("run", "counted", "--profile", "quick", "--no-cache", "--out", "out")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 240
        while not _waiters(lock) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        waited = _waiters(lock)
    stdout, stderr = proc.communicate(timeout=240)
    assert waited and proc.returncode == 0, stderr[-3000:]
    said = "counted.generate: another run is computing this stage; waiting for it"
    assert said in stdout + stderr, stdout + stderr


def test_a_set_hint_is_for_the_key_the_error_names(plugin_env, tmp_path: Path) -> None:
    """Two refused keys (or the TOML's): the hint spells the one the error names, not a later
    --set's ('unknown config key 'foo' ...; did you mean --set seed=1?')."""
    from topiclab.app.cli import _validate_run
    from topiclab.core.errors import ConfigError
    from topiclab.core.registry import get_registry

    reg, toml = get_registry(), tmp_path / "c.toml"
    toml.write_text("foo = 1\n")
    for config, sets in ((None, ["foo=1", "sedd=1"]), (toml, ["sedd=1"])):
        with pytest.raises(ConfigError) as info:
            _validate_run(reg, ["ridge"], "quick", config, sets)
        assert "'foo'" in str(info.value) and "did you mean" not in str(info.value), info.value
    with pytest.raises(ConfigError, match=r"'sedd'.*did you mean --set seed=1\?$"):
        _validate_run(reg, ["ridge"], "quick", None, ["seed=2", "sedd=1"])


def test_a_set_hint_offers_no_table_for_a_plain_value(plugin_env) -> None:
    """'model.seq=30' was told 'did you mean --set model.seq_len=30 or --set model=30 ...':
    a table ('model') takes a table, so 30 there is refused again."""
    from topiclab.app.cli import _validate_run
    from topiclab.core.errors import ConfigError
    from topiclab.core.registry import get_registry

    with pytest.raises(ConfigError) as info:
        _validate_run(get_registry(), ["llama"], "quick", None, ["model.seq=30"])
    text = str(info.value)
    assert "--set model.seq_len=30" in text and "--set model=30" not in text, text
