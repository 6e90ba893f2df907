"""The LM compressor: a byte-level Llama checkpoint + ``topiclab.nn.lm_codec`` + ``.tlz``.

    from topiclab.plugins.compression.lm import load_model, compress_bytes, decompress_bytes
    model = load_model("llama.pt")            # torch.save'd Transformer, or an HF folder
    blob = compress_bytes(model, data, threads=1)
    data = decompress_bytes(model, blob)      # FormatError (one line) if it cannot be restored
    blob, sizes, bits = compress_online(data) # --online: no model, decoded with model=None

Torch is imported inside the functions: the plugin loads for ``topiclab --help`` without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from topiclab.plugins.compression.container import (
    ONLINE,
    FormatError,
    Header,
    n_chunks,
    pack,
    sha256,
    unpack,
)

CHUNK = 2048  # Delétang et al.: 2048-byte chunks, each without history
BYTE_TOKENIZER: dict[str, object] = {"kind": "byte"}
# The window slides (a ring cache): no window is read twice, and on 32 KB of plays held out
# from the llama topic but not evaluated here (henry_v, much_ado) the standard model codes
# 2.1307 bits/byte against 2.1323 restarting with half the window (2.1304 with 3/4).
KEEP = 0


def resolve_model(spec: str) -> Path:
    """A path as it is; ``llama`` or ``llama:PROFILE`` (default standard): the model the llama
    topic trained in that profile, found in the stage cache as the topic DAG would find it."""
    spec = str(spec)
    if Path(spec).exists() or not (spec == "llama" or spec.startswith("llama:")):
        return Path(spec)
    from topiclab.core.dag import identity
    from topiclab.core.manifest import read_marker
    from topiclab.core.registry import get_registry

    profile = spec.partition(":")[2] or "standard"
    ident = identity(get_registry(), "llama", profile)
    result, why = read_marker(ident.stage_folder("train"))
    if result is None or "model" not in result.files:
        raise FormatError(
            f"no trained llama model for profile {profile!r} ({why or 'no model file'}); "
            f"run `topiclab run llama --profile {profile}` first"
        )
    return Path(result.files["model"])


def load_model(path: str | Path) -> Any:
    """A ``Transformer`` from a ``torch.save`` file (the llama topic's ``llama.pt``) or an HF
    Llama folder; only byte-level models (vocabulary 256) can code arbitrary bytes."""
    import torch

    path = Path(path)
    if path.is_dir():
        from topiclab.nn.llama_hf import load_hf_checkpoint

        model = load_hf_checkpoint(path, dtype=torch.float32)
    else:
        model = torch.load(path, map_location="cpu", weights_only=False)
    if getattr(model, "vocab_size", None) != 256:
        raise FormatError(
            f"{path}: a byte-level model (vocabulary 256) is needed; "
            f"this one has {getattr(model, 'vocab_size', '?')} (the llama topic's: run it "
            "with llama:tokenizer.kind=byte)"
        )
    return model.float().eval()


def compress_detail(
    model: Any,
    data: bytes,
    threads: int = 1,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> tuple[bytes, list[int], float]:
    """The ``.tlz`` bytes, each chunk's code size in bytes, and Σ −log2 q in bits."""
    from topiclab.nn.lm_codec import BATCH, encode_chunks, model_hash, split_chunks

    chunks = split_chunks(data, chunk)
    codes, ideal = encode_chunks(model, chunks, threads, progress, BATCH, KEEP)
    header = Header(
        model_hash(model), BYTE_TOKENIZER, len(data), sha256(data), threads, chunk, BATCH, KEEP
    )
    return pack(header, [c.data for c in codes]), [len(c.data) for c in codes], ideal


def compress_bytes(
    model: Any,
    data: bytes,
    threads: int = 1,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    return compress_detail(model, data, threads, chunk, progress)[0]


def compress_online(
    data: bytes,
    threads: int = 1,
    recipe: Any = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[bytes, list[int], float]:
    """``--online``: no model; the recipe in the header lets the decoder replay the training.
    The ``.tlz`` bytes, the one code stream's size (a list, as ``compress_detail``), Σ −log2 q."""
    from topiclab.nn.online_codec import Recipe, encode_online

    r = recipe or Recipe()
    code, ideal = encode_online(data, r, threads, progress)
    header = Header(ONLINE, BYTE_TOKENIZER, len(data), sha256(data), threads, online=r.to_dict())
    return pack(header, [code.data]), [len(code.data)], ideal


def online_recipe(header: Header) -> Any:
    """The header's recipe, refused in one line if a value is one no encoder could have used."""
    from topiclab.nn.online_codec import Recipe

    r = Recipe(**header.online)  # type: ignore[arg-type]  # the container reads exactly its fields
    sizes = [r.dim, r.n_layers, r.n_heads, r.n_kv_heads, r.window, r.row, r.block, r.batch]
    ok = all(1 <= v <= 1 << 16 for v in sizes) and r.steps <= 1 << 16
    ok = ok and 1 <= r.memory <= 1 << 30 and r.seed < 1 << 63
    if not (ok and 0 < r.lr < 1):
        raise FormatError("corrupt header (online recipe out of range)")
    return r


def _decode_online(header: Header, codes: list[bytes], progress: Any) -> bytes:
    from topiclab.nn.online_codec import decode_online

    r = online_recipe(header)
    try:
        return decode_online(codes[0], header.length, r, header.threads, progress)
    except (ValueError, TypeError, AssertionError, RuntimeError) as e:
        raise FormatError(
            f"corrupt header (online recipe: {str(e).splitlines()[0][:80]})"
        ) from None


def decompress_bytes(
    model: Any, blob: bytes, progress: Callable[[int], None] | None = None
) -> bytes:
    """``model`` may be None for a file coded ``--online``."""
    header, codes = unpack(blob)
    if header.tokenizer != BYTE_TOKENIZER:
        raise FormatError(f"tokenizer {header.tokenizer} is not supported")
    data = (
        _decode_online(header, codes, progress)
        if header.online
        else _decode(model, header, codes, progress)
    )
    if sha256(data) != header.sha256:
        raise FormatError("corrupt file: the decoded bytes fail the SHA-256 check")
    return data


def _decode(model: Any, header: Header, codes: list[bytes], progress: Any) -> bytes:
    from topiclab.nn.lm_codec import decode_chunks, model_hash

    if model is None:
        raise FormatError("this file was coded with a model: pass it with --model")
    if not header.keep < int(model.params.max_seq_len):
        raise FormatError(f"corrupt header: keep {header.keep} is not below the model's window")
    if header.model_hash != model_hash(model):
        raise FormatError(
            f"coded with model {header.model_hash[:12]}, not this one ({model_hash(model)[:12]})"
        )
    chunks = decode_chunks(
        model, codes, chunk_lengths(header), header.threads, progress, header.batch, header.keep
    )
    return b"".join(chunks)


def chunk_lengths(header: Header) -> list[int]:
    """A model-coded file's chunk lengths: all ``chunk_size`` but the last."""
    n, size = header.length, header.chunk_size
    return [min(size, n - i * size) for i in range(n_chunks(n, size))]
