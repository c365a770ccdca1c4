"""Token lengths under the base model's tokenizer, and rows that training would truncate."""

import numpy as np

from tunewise.data.audit.base import Check, Finding, register_check


@register_check
class Length(Check):
    name = "length"
    description = "Token-length distribution under the base model's tokenizer; rows longer than model.max_length."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"p95 {d['tokens']['p95']:.0f} tokens, {d['truncated']} over {d['max_length']}"

    def run(self, ctx):
        from transformers import AutoTokenizer

        from tunewise.data.formats import to_conversation
        from tunewise.models.prompts import make_renderer

        if ctx.model_path is None:
            return self.finding(ctx, [], {"skipped_reason": "no base model tokenizer available"})
        from tunewise.models.registry import code_options

        tokenizer = AutoTokenizer.from_pretrained(ctx.model_path, **code_options(ctx.model_path))
        renderer = make_renderer(tokenizer)
        lengths = []
        for record in ctx.records:
            messages, answer = to_conversation(record, ctx.task)
            lengths.append(len(renderer.prompt_ids(messages)) + len(renderer.answer_ids(messages, answer)))
        lengths = np.array(lengths)
        limit = ctx.max_length
        too_long = np.flatnonzero(lengths > limit).tolist()
        detail = {
            "max_length": limit,
            "tokens": {
                "min": int(lengths.min()),
                "p50": float(np.percentile(lengths, 50)),
                "p95": float(np.percentile(lengths, 95)),
                "max": int(lengths.max()),
                "mean": round(float(lengths.mean()), 1),
            },
            "truncated": len(too_long),
            "examples": [{"row": ctx.row_ids[i], "tokens": int(lengths[i])} for i in too_long[:20]],
        }
        return self.finding(ctx, too_long, detail)
