"""Adaptive order-k context models over bytes, coded with ``topiclab.nn.arithmetic_coder``.

    from topiclab.plugins.compression.context import encode_order_k, decode_order_k
    blob = encode_order_k(data, k=3); assert decode_order_k(blob, k=3) == data

The prediction interpolates orders k, k-1, ..., 0 and a uniform base with Witten-Bell weights
(p_j = (c_j(s) + u_j p_{j-1}(s)) / (n_j + u_j), u_j = distinct symbols seen in that context), so
an unseen context falls back smoothly instead of costing 8 bits a byte. Encoder and decoder run
the same ``ContextModel`` in the same order: predict, code, update.
"""

from __future__ import annotations

import numpy as np

from topiclab.nn.arithmetic_coder import Decoder, Encoder, cumulative, quantise

LENGTH_BYTES = 4  # the original length, big-endian, before the code


class ContextModel:
    def __init__(self, k: int) -> None:
        self.k = k
        self.tables: list[dict[bytes, np.ndarray]] = [{} for _ in range(k + 1)]
        self.history = b""

    def probs(self) -> np.ndarray:
        p = np.full(256, 1.0 / 256)
        for j in range(min(self.k, len(self.history)) + 1):
            counts = self.tables[j].get(self.history[len(self.history) - j :])
            if counts is None:
                break  # a longer context is unseen too
            n, u = counts.sum(), np.count_nonzero(counts)
            p = (counts + u * p) / (n + u)
        return p

    def update(self, byte: int) -> None:
        for j in range(min(self.k, len(self.history)) + 1):
            ctx = self.history[len(self.history) - j :]
            table = self.tables[j].get(ctx)
            if table is None:
                table = self.tables[j][ctx] = np.zeros(256, dtype=np.float64)
            table[byte] += 1
        self.history = (self.history + bytes([byte]))[-self.k :] if self.k else b""


def encode_order_k(data: bytes, k: int) -> bytes:
    model, enc = ContextModel(k), Encoder()
    for byte in data:
        enc.encode(byte, cumulative(quantise(model.probs())))
        model.update(byte)
    return len(data).to_bytes(LENGTH_BYTES, "big") + enc.finish().data


def decode_order_k(blob: bytes, k: int) -> bytes:
    n = int.from_bytes(blob[:LENGTH_BYTES], "big")
    model, dec = ContextModel(k), Decoder(blob[LENGTH_BYTES:])
    out = bytearray()
    for _ in range(n):
        byte = dec.decode(cumulative(quantise(model.probs())))
        model.update(byte)
        out.append(byte)
    return bytes(out)
