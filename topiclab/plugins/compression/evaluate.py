"""The evaluate stage: every compressor on every held-out play, as Delétang et al. measure.

    from topiclab.plugins.compression.evaluate import evaluate, chunked_size
    result = evaluate(ctx, cfg, data, trained)   # rates.csv, totals.csv, claims, figures

Two modes: ``whole`` (the file at once) and ``chunk`` (``chunk_size``-byte chunks, each without
history; a classical compressor's header counted once, ``size -= header * (chunks - 1)`` with
header = the size of one compressed byte, as the authors' code does). The LM always codes
chunks; its whole-file size is the ``.tlz`` file, header and chunk table included. Every
compressed stream is decompressed and compared: the ``lossless`` claim reads those checks.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

from topiclab.core.processes import completed, useful_workers, why_not_in_workers, worker_pool
from topiclab.core.report import md_records
from topiclab.core.topic import StageContext, StageResult
from topiclab.plugins.compression.claims import DELETANG, ONLINE, build_claims
from topiclab.plugins.compression.compressors import Compressor, by_name, classical, order_k
from topiclab.plugins.compression.config import CompressionConfig
from topiclab.plugins.compression.figures import topic_figures

_log = logging.getLogger(__name__)


def row(play: str, name: str, mode: str, raw: int, size: int, ok: bool, sec: float) -> dict:
    return {
        "play": play,
        "compressor": name,
        "mode": mode,
        "raw_bytes": raw,
        "compressed_bytes": size,
        "rate_pct": round(100 * size / max(1, raw), 3),
        "bits_per_byte": round(8 * size / max(1, raw), 4),
        "lossless": ok,
        "seconds": round(sec, 4),
        # The LM's own columns, empty for the others (one CSV header for every row).
        "ideal_bits": "",
        "code_bits": "",
        "n_chunks": "",
        "decode_seconds": "",
    }


def chunked_size(comp: Compressor, data: bytes, chunk: int) -> tuple[int, bool]:
    """Delétang et al.'s chunked size (header once) and whether every chunk came back."""
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    blobs = [comp.compress(p) for p in parts]
    ok = all(comp.decompress(b) == p for b, p in zip(blobs, parts, strict=True))
    header = len(comp.compress(b"\x00"))
    return sum(map(len, blobs)) - header * max(0, len(parts) - 1), ok


def measure(play: str, comp: Compressor, data: bytes, chunk: int) -> list[dict]:
    t0 = time.perf_counter()
    blob = comp.compress(data)
    ok = comp.decompress(blob) == data
    whole = row(play, comp.name, "whole", len(data), len(blob), ok, time.perf_counter() - t0)
    t0 = time.perf_counter()
    size, ok = chunked_size(comp, data, chunk)
    return [whole, row(play, comp.name, "chunk", len(data), size, ok, time.perf_counter() - t0)]


def _lm_columns(rows: list[dict], ideal: float, sizes: list[int], t_dec: float) -> list[dict]:
    for r in rows:
        r |= {
            "ideal_bits": round(ideal, 1),
            "code_bits": 8 * sum(sizes),
            "n_chunks": len(sizes),
            "decode_seconds": round(t_dec, 4),
        }
    return rows


def measure_lm(model_path: str, threads: int, chunk: int, play: str, data: bytes) -> list[dict]:
    from topiclab.plugins.compression.lm import compress_detail, decompress_bytes, load_model

    model = load_model(model_path)
    t0 = time.perf_counter()
    blob, code_sizes, ideal = compress_detail(model, data, threads, chunk)
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = decompress_bytes(model, blob) == data
    t_dec = time.perf_counter() - t0
    header = len(blob) - sum(code_sizes)  # magic, JSON header, chunk table: counted once
    rows = [
        row(play, "LM", "whole", len(data), len(blob), ok, t_enc),
        row(play, "LM", "chunk", len(data), sum(code_sizes) + header, ok, t_enc),
    ]
    return _lm_columns(rows, ideal, code_sizes, t_dec)


def measure_online(steps: int, threads: int, play: str, data: bytes) -> list[dict]:
    """The online mode on the whole play: the prequential code, the header included."""
    from topiclab.nn.online_codec import Recipe
    from topiclab.plugins.compression.lm import compress_online, decompress_bytes

    t0 = time.perf_counter()
    blob, sizes, ideal = compress_online(data, threads, Recipe(steps=steps))
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = decompress_bytes(None, blob) == data
    t_dec = time.perf_counter() - t0
    rows = [row(play, ONLINE, "whole", len(data), len(blob), ok, t_enc)]
    return _lm_columns(rows, ideal, sizes, t_dec)


# One measurement: (kind, stream name, its file, argument). Plain data, so that a worker
# process can run it: the compressor by name, the model by path.
Job = tuple[str, str, str, Any]
COST = {"context": 10.0, "online": 8.0, "lm": 6.0, "classical": 0.2}  # rough CPU s per 10 KB


def run_job(job: Job, cfg: CompressionConfig) -> list[dict]:
    kind, stream, path, arg = job
    raw = Path(path).read_bytes()
    if kind == "lm":
        return measure_lm(arg, cfg.threads, cfg.chunk_size, stream, raw)
    if kind == "online":
        return measure_online(cfg.online_steps, cfg.threads, stream, raw)
    return measure(stream, by_name(arg), raw, cfg.chunk_size)


def jobs_of(cfg: CompressionConfig, files: dict[str, str], streams: list[str], model: str,
            online: bool) -> list[Job]:  # fmt: skip
    """Every compressor on every stream, in the rows' order (the LM, then the online mode)."""
    names = [c.name for c in classical()] + [order_k(k).name for k in cfg.orders]
    out: list[Job] = []
    for s in streams:
        out += [("context" if n.startswith("order-") else "classical", s, files[s], n)
                for n in names]  # fmt: skip
        out.append(("lm", s, files[s], model))
        if online:
            out.append(("online", s, files[s], None))
    return out


def run_jobs(ctx: StageContext, cfg: CompressionConfig, jobs: list[Job]) -> list[list[dict]]:
    """Each job's rows, in the jobs' order. With ``workers`` > 1 the jobs run in that many
    spawned processes, the costliest first (each job single-threaded, as ``threads`` says)."""
    workers = useful_workers(cfg.workers, len(jobs))
    why = why_not_in_workers([run_job, cfg, *jobs]) if workers > 1 else None
    if workers > 1 and why:
        _log.warning("measuring in this process, not in %d workers: %s", workers, why)
    if workers == 1 or why:
        rows = []
        with ctx.progress("compress", total=len(jobs)) as p:
            for i, job in enumerate(jobs):
                rows.append(run_job(job, cfg))
                p(i)  # the 0-based step (core.topic.Progress)
        return rows
    order = sorted(range(len(jobs)),
                   key=lambda i: -COST[jobs[i][0]] * Path(jobs[i][2]).stat().st_size)  # fmt: skip
    out: dict[int, list[dict]] = {}
    # core.processes: a Ctrl-C or SIGTERM ends the workers instead of waiting for their jobs.
    with worker_pool(workers) as pool, ctx.progress("compress", total=len(jobs)) as p:
        for n, (i, rows_i) in enumerate(completed(pool, partial(run_job, cfg=cfg), jobs, order)):
            out[i] = rows_i
            p(n)
    return [out[i] for i in range(len(jobs))]


def totals(rows: list[dict]) -> list[dict]:
    """Rates over all plays together (Σ compressed / Σ raw) per compressor and mode."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        t = out.setdefault(
            (r["compressor"], r["mode"]),
            {
                "compressor": r["compressor"],
                "mode": r["mode"],
                "raw_bytes": 0,
                "compressed_bytes": 0,
                "lossless": True,
                "seconds": 0.0,
            },
        )
        for k in ("raw_bytes", "compressed_bytes", "seconds"):
            t[k] += r[k]
        t["lossless"] &= bool(r["lossless"])
    for t in out.values():
        t["rate_pct"] = round(100 * t["compressed_bytes"] / max(1, t["raw_bytes"]), 3)
    return list(out.values())


def evaluate(
    ctx: StageContext, cfg: CompressionConfig, data: StageResult, trained: StageResult
) -> StageResult:
    model = str(ctx.upstream["model"].path)
    modal_streams = data.data.get("modal", [])
    jobs = jobs_of(cfg, data.files, cfg.plays, model, online=True)
    jobs += jobs_of(cfg, data.files, modal_streams, model, online=False)
    results = run_jobs(ctx, cfg, jobs)
    rows = [r for j, rs in zip(jobs, results, strict=True) if j[1] in cfg.plays for r in rs]
    modal = [r for j, rs in zip(jobs, results, strict=True) if j[1] not in cfg.plays for r in rs]
    tot = totals(rows)
    metrics = metrics_of(rows, tot, trained.data["params"])
    metrics["lossless_all"] = float(all(r["lossless"] for r in rows + modal))
    metrics |= {
        f"modal_rate_{r['mode']}_{r['play']}_{r['compressor']}": r["rate_pct"] for r in modal
    }
    return StageResult(
        metrics=metrics,
        tables={
            "rates": ctx.write_table("rates.csv", rows),
            "totals": ctx.write_table("totals.csv", tot),
            "cross_modal": ctx.write_table("cross_modal.csv", modal),
        },
        figures=topic_figures(ctx, tot),
        claims=build_claims(metrics),
        sections={
            "Rates beside Delétang et al. (2023), Table 1": deletang_section(tot),
            "Non-text bytes (photo patches, synthetic image and audio)": modal_section(modal),
        },
    )


def metrics_of(rows: list[dict], tot: list[dict], params: int) -> dict[str, float]:
    m: dict[str, float] = {f"rate_{t['mode']}_{t['compressor']}": t["rate_pct"] for t in tot}
    lm = [r for r in rows if r["compressor"] == "LM" and r["mode"] == "chunk"]
    raw = sum(r["raw_bytes"] for r in lm)
    m["lossless_all"] = float(all(r["lossless"] for r in rows))
    online = [r for r in rows if r["compressor"] == ONLINE]
    m["online_ideal_bits"] = sum(r["ideal_bits"] for r in online)
    m["online_code_bits"] = sum(r["code_bits"] for r in online)
    m["online_chunks"] = sum(r["n_chunks"] for r in online)
    m["lm_ideal_bits"] = sum(r["ideal_bits"] for r in lm)
    m["lm_code_bits"] = sum(r["code_bits"] for r in lm)
    m["lm_chunks"] = sum(r["n_chunks"] for r in lm)
    m["lm_ideal_bpb"] = m["lm_ideal_bits"] / max(1, raw)
    whole = sum(
        r["compressed_bytes"] for r in rows if r["compressor"] == "LM" and r["mode"] == "whole"
    )
    m["lm_adjusted_rate_pct"] = 100 * (whole + 2 * params) / max(1, raw)
    m["lm_compress_kb_s"] = raw / 1e3 / max(1e-9, sum(r["seconds"] for r in lm))
    m["lm_decompress_kb_s"] = raw / 1e3 / max(1e-9, sum(r["decode_seconds"] for r in lm))
    return m


def modal_section(modal: list[dict]) -> str:
    if not modal:
        return "Not run (modal_bytes = 0)."
    by = {(r["play"], r["compressor"], r["mode"]): r["rate_pct"] for r in modal}
    recs = [
        {"stream": s, "compressor": c, "2048-byte chunks (%)": by[(s, c, "chunk")],
         "whole (%)": by[(s, c, "whole")]}
        for s, c in dict.fromkeys((r["play"], r["compressor"]) for r in modal)
    ]  # fmt: skip
    return (
        "image: grayscale 32×64 patches of scikit-learn's two sample photos (china.jpg, "
        "flower.jpg), as Delétang et al. cut ImageNet; synthetic_image and audio: generated "
        "from a fixed seed (data.py). The LM is the text-trained llama model, applied to bytes "
        "it never saw the like of.\n\n" + md_records(recs)
    )


def deletang_section(tot: list[dict]) -> str:
    ours = {(t["compressor"], t["mode"]): t["rate_pct"] for t in tot}
    recs = [
        {
            "compressor": name,
            "ours, 2048 (%)": ours.get((ours_key, "chunk"), ""),
            "ours, whole (%)": ours.get((ours_key, "whole"), ""),
            "Delétang enwik9, 2048 (%)": d_chunk,
            "Delétang enwik9, ∞ (%)": d_whole,
        }
        for name, ours_key, d_chunk, d_whole in DELETANG
    ]
    return (
        "Held-out plays here, enwik9 there (1 GB of Wikipedia XML): the same protocol, "
        "not the same data.\n\n" + md_records(recs)
    )
