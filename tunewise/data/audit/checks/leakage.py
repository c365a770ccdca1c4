"""Training rows that also appear in an evaluation file: exactly, nearly, or through a shared long n-gram."""

from tunewise.data.audit.base import Check, Finding, register_check
from tunewise.data.dedup import near_matches, rows_repeating
from tunewise.data.formats import input_text, normalize, turn_inputs


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@register_check
class Leakage(Check):
    name = "leakage"
    description = (
        "Training rows that match rows of an evaluation file (exact, near-exact, or a shared 13-gram; a chat also "
        "turn by turn)."
    )
    severity = "error"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return "; ".join(f"{n.rsplit('/', 1)[-1]}: {v['leaked_rows']}" for n, v in d["files"].items())

    def run(self, ctx):
        if not ctx.against:
            return self.finding(ctx, [], {"skipped_reason": "no evaluation file given (--against)"})
        texts = ctx.normalized_inputs()
        flagged: set[int] = set()
        per_file = {}
        for name, records in ctx.against.items():
            eval_texts = [normalize(input_text(r, ctx.task)) for r in records]
            exact = _exact(texts, eval_texts)
            near = set(near_matches(texts, eval_texts, ctx.settings.leakage_threshold)) - exact
            shared = _shared_ngrams(texts, eval_texts, ctx.settings.leakage_ngram) - exact - near
            turns = _earlier_turns(ctx, eval_texts) - exact - near - shared
            leaked = exact | near | shared | turns
            flagged |= leaked
            per_file[name] = {
                "eval_rows": len(records),
                "exact": len(exact),
                "near": len(near),
                "ngram": len(shared),
                "earlier_turn": len(turns),
                "leaked_rows": len(leaked),
                "examples": [{"row": ctx.row_ids[i], "input": ctx.inputs()[i][:200]} for i in sorted(leaked)[:20]],
            }
        detail = {"files": per_file, "ngram": ctx.settings.leakage_ngram, "threshold": ctx.settings.leakage_threshold}
        return self.finding(ctx, sorted(flagged), detail)


def _earlier_turns(ctx, eval_texts: list[str]) -> set[int]:
    """Chats whose turns before an earlier assistant turn repeat an evaluation chat's input (a test chat that opens
    a longer training chat)."""
    if ctx.task != "chat":
        return set()
    turns = [[normalize(text) for text in turn_inputs(r, ctx.task)[:-1]] for r in ctx.records]
    return rows_repeating(turns, eval_texts, ctx.settings.leakage_threshold)


def _exact(texts: list[str], eval_texts: list[str]) -> set[int]:
    seen = set(eval_texts)
    return {i for i, text in enumerate(texts) if text in seen}


def _shared_ngrams(texts: list[str], eval_texts: list[str], n: int) -> set[int]:
    seen = set()
    for text in eval_texts:
        seen |= ngrams(text, n)
    if not seen:
        return set()
    return {i for i, text in enumerate(texts) if not ngrams(text, n).isdisjoint(seen)}
