"""Cheap text-hygiene heuristics: mojibake, control characters, and rows in an unexpected script."""

import re
import unicodedata
from collections import Counter

from tunewise.data.audit.base import Check, Finding, register_check

MOJIBAKE = re.compile(r"Ã[\x80-\xbf¡-¿]|â€|Â[\xa0-\xbf]|ï»¿|\ufffd")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def script_of(text: str) -> str:
    """The dominant script of the letters in ``text`` (LATIN, CYRILLIC, CJK, ARABIC, ...) or '' if none."""
    scripts = Counter()
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "")
            scripts[name.split(" ")[0] if name else "?"] += 1
    return scripts.most_common(1)[0][0] if scripts else ""


@register_check
class Encoding(Check):
    name = "encoding"
    description = "Mojibake (text decoded with the wrong encoding), control characters, rows in another script."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return ", ".join(f"{k} {v}" for k, v in d["counts"].items()) or "none"

    def run(self, ctx):
        texts = [f"{a}\n{b}" for a, b in zip(ctx.inputs(), ctx.targets(), strict=True)]
        scripts = [script_of(t) for t in texts]
        majority = Counter(s for s in scripts if s).most_common(1)
        majority = majority[0][0] if majority else ""
        problems: dict[int, list[str]] = {}
        for index, text in enumerate(texts):
            kinds = []
            if MOJIBAKE.search(text):
                kinds.append("mojibake")
            if CONTROL.search(text):
                kinds.append("control_characters")
            if scripts[index] and scripts[index] != majority:
                kinds.append(f"script:{scripts[index]}")
            if kinds:
                problems[index] = kinds
        counts = Counter(k.split(":")[0] for kinds in problems.values() for k in kinds)
        detail = {
            "majority_script": majority,
            "counts": dict(counts),
            "examples": [
                {"row": ctx.row_ids[i], "kinds": k, "text": ctx.inputs()[i][:120]}
                for i, k in list(problems.items())[:20]
            ],
        }
        return self.finding(ctx, list(problems), detail)
