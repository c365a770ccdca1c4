"""Personal data: e-mail addresses, phone numbers, payment card numbers (Luhn-checked), IBANs (mod-97 checked)."""

import re

from tunewise.data.audit.base import Check, Finding, register_check

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{7,}\d(?!\w)")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def find_pii(text: str) -> list[str]:
    """The kinds of personal data found in ``text``."""
    kinds = []
    if EMAIL.search(text):
        kinds.append("email")
    cards = [m for m in CARD.findall(text) if luhn_ok(re.sub(r"\D", "", m))]
    if cards:
        kinds.append("card_number")
    if any(iban_ok(m) for m in IBAN.findall(text)):
        kinds.append("iban")
    card_digits = {re.sub(r"\D", "", c) for c in cards}
    phones = [m for m in PHONE.findall(text) if 9 <= len(re.sub(r"\D", "", m)) <= 15]
    if any(re.sub(r"\D", "", p) not in card_digits for p in phones):
        kinds.append("phone")
    return kinds


@register_check
class Pii(Check):
    name = "pii"
    description = "E-mail addresses, phone numbers, card numbers (Luhn-checked) and IBANs in inputs or outputs."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return ", ".join(f"{k} {v}" for k, v in d["counts"].items()) or "none"

    def run(self, ctx):
        flagged, counts, examples = [], {}, []
        for index, (text, target) in enumerate(zip(ctx.inputs(), ctx.targets(), strict=True)):
            kinds = find_pii(f"{text}\n{target}")
            if kinds:
                flagged.append(index)
                for kind in kinds:
                    counts[kind] = counts.get(kind, 0) + 1
                if len(examples) < 20:
                    examples.append({"row": ctx.row_ids[index], "kinds": kinds})
        return self.finding(ctx, flagged, {"counts": counts, "examples": examples})
