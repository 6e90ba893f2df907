"""A finite-precision (32-bit) integer arithmetic coder over integer frequency tables.

    from topiclab.nn.arithmetic_coder import Encoder, Decoder, cumulative, quantise
    cum = cumulative(quantise(probs))          # probs (V,) -> cumulative counts (V + 1,)
    enc = Encoder(); enc.encode(symbol, cum); code = enc.finish()   # Code(data, n_bits)
    dec = Decoder(code.data); symbol = dec.decode(cum)

The coder is Witten, Neal and Cleary's (1987) with carry-free "pending" bits: the interval
[low, high] is kept in 32 bits and rescaled whenever its top bit is settled or it straddles the
middle inside the middle half. Every symbol needs a count of at least 1 (a zero-width interval
could not be decoded), and the total must stay ≤ 2**16 so each symbol keeps at least one unit
of the ≥ 2**30 range after rescaling. The stream ends with the shortest bit string whose whole
dyadic interval lies inside the final one (a prefix-free end: the decoder reads zeros past the
end), which is how the reference's "AIXI" example gets its 7-bit code ``0101010``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

PRECISION = 32
FULL = (1 << PRECISION) - 1
HALF = 1 << (PRECISION - 1)
QUARTER = 1 << (PRECISION - 2)
TOTAL_BITS = 16
MAX_TOTAL = 1 << TOTAL_BITS


@dataclass(frozen=True)
class Code:
    """The coded stream: bytes (zero-padded to a whole byte) and the exact number of bits."""

    data: bytes
    n_bits: int


def quantise(probs: np.ndarray, total: int = MAX_TOTAL) -> np.ndarray:
    """Integer counts summing to exactly ``total``, every symbol ≥ 1, along the last axis.

    Deterministic in float64: floor((total - V) * p) + 1, then the remainder (what the floors
    dropped) goes to the most probable symbol, so the same probabilities give the same table on
    both sides of the channel.
    """
    p = np.asarray(probs, dtype=np.float64)
    v = p.shape[-1]
    if total > MAX_TOTAL or total < v:
        raise ValueError(f"total {total} must be in [{v}, {MAX_TOTAL}]")
    p = np.clip(p, 0.0, None)
    s = p.sum(axis=-1, keepdims=True)
    p = np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / v)
    counts = np.floor(p * (total - v)).astype(np.int64) + 1
    rest = total - counts.sum(axis=-1)
    top = np.argmax(p, axis=-1)
    np.put_along_axis(
        counts,
        top[..., None],
        np.take_along_axis(counts, top[..., None], -1) + rest[..., None],
        axis=-1,
    )
    return counts


def cumulative(counts: np.ndarray) -> np.ndarray:
    """Cumulative counts with a leading 0 along the last axis: symbol s is [c[s], c[s+1])."""
    c = np.asarray(counts, dtype=np.int64)
    if (c < 1).any():
        raise ValueError("every symbol needs a count of at least 1")
    zero = np.zeros((*c.shape[:-1], 1), dtype=np.int64)
    return np.concatenate([zero, np.cumsum(c, axis=-1)], axis=-1)


class Encoder:
    """Codes symbols one at a time; ``finish()`` returns the stream."""

    def __init__(self) -> None:
        self.low, self.high, self.pending = 0, FULL, 0
        self.bits: list[int] = []

    def _emit(self, bit: int) -> None:
        # A settled bit resolves the pending straddles: they were its opposite.
        self.bits.append(bit)
        if self.pending:
            self.bits.extend([1 - bit] * self.pending)
            self.pending = 0

    def encode(self, symbol: int, cum: Sequence[int] | np.ndarray) -> None:
        self.encode_interval(int(cum[symbol]), int(cum[symbol + 1]), int(cum[-1]))

    def encode_interval(self, lo_c: int, hi_c: int, total: int) -> None:
        """Code the symbol that owns counts [lo_c, hi_c) of ``total`` (Python ints)."""
        if hi_c <= lo_c or total > MAX_TOTAL:
            raise ValueError(f"[{lo_c}, {hi_c}) has no probability mass (or total > {MAX_TOTAL})")
        span = self.high - self.low + 1
        self.high = self.low + span * hi_c // total - 1
        self.low = self.low + span * lo_c // total
        self._normalise()

    def _normalise(self) -> None:
        while True:
            if self.high < HALF:
                self._emit(0)
            elif self.low >= HALF:
                self._emit(1)
                self.low -= HALF
                self.high -= HALF
            elif self.low >= QUARTER and self.high < HALF + QUARTER:
                self.pending += 1
                self.low -= QUARTER
                self.high -= QUARTER
            else:
                return
            self.low = 2 * self.low
            self.high = 2 * self.high + 1

    def finish(self) -> Code:
        """The shortest k bits whose dyadic interval [m/2^k, (m+1)/2^k) fits in [low, high]."""
        for k in range(1, PRECISION + 1):
            unit = 1 << (PRECISION - k)
            m = -(-self.low // unit)
            if (m + 1) * unit - 1 <= self.high:
                break
        value = m * unit
        for i in range(k):
            self._emit((value >> (PRECISION - 1 - i)) & 1)
        n_bits = len(self.bits)
        data = np.packbits(np.asarray(self.bits, dtype=np.uint8)).tobytes() if n_bits else b""
        return Code(data, n_bits)


class Decoder:
    """Decodes what ``Encoder`` wrote, given the same cumulative tables in the same order."""

    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
        self.pos = 0
        self.low, self.high, self.value = 0, FULL, 0
        for _ in range(PRECISION):
            self.value = 2 * self.value + self._bit()

    def _bit(self) -> int:
        # Past the end the stream reads as zeros (the encoder's end is prefix-free).
        bit = self.bits[self.pos] if self.pos < len(self.bits) else 0
        self.pos += 1
        return int(bit)

    def decode(self, cum: np.ndarray) -> int:
        total = int(cum[-1])
        span = self.high - self.low + 1
        target = ((self.value - self.low + 1) * total - 1) // span
        symbol = int(np.searchsorted(cum, target, side="right")) - 1
        self.high = self.low + span * int(cum[symbol + 1]) // total - 1
        self.low = self.low + span * int(cum[symbol]) // total
        self._normalise()
        return symbol

    def _normalise(self) -> None:
        while True:
            if self.high < HALF:
                pass
            elif self.low >= HALF:
                self.low -= HALF
                self.high -= HALF
                self.value -= HALF
            elif self.low >= QUARTER and self.high < HALF + QUARTER:
                self.low -= QUARTER
                self.high -= QUARTER
                self.value -= QUARTER
            else:
                return
            self.low = 2 * self.low
            self.high = 2 * self.high + 1
            self.value = 2 * self.value + self._bit()


def encode(symbols: Sequence[int], cums: Sequence[np.ndarray] | np.ndarray) -> Code:
    """Codes ``symbols[i]`` with table ``cums[i]`` (fixed tables, e.g. computed in a batch)."""
    enc = Encoder()
    for s, cum in zip(symbols, cums, strict=True):
        enc.encode(int(s), cum)
    return enc.finish()


def decode(code: Code | bytes, n: int, table: Callable[[list[int]], np.ndarray]) -> list[int]:
    """``n`` symbols; ``table(decoded so far)`` gives the next cumulative table (adaptive)."""
    dec = Decoder(code.data if isinstance(code, Code) else code)
    out: list[int] = []
    for _ in range(n):
        out.append(dec.decode(table(out)))
    return out


def ideal_bits(symbols: Sequence[int], cums: Sequence[np.ndarray] | np.ndarray) -> float:
    """Σ −log2 q(symbol) under the quantised tables: what a perfect coder would spend."""
    total = 0.0
    for s, cum in zip(symbols, cums, strict=True):
        total -= np.log2((cum[s + 1] - cum[s]) / cum[-1])
    return float(total)
