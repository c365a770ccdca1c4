"""Inject realistic faults into a clean dataset, keeping the ground truth: for what-if studies and for
measuring the audit. Works on any task format; label faults need classification data.

Every injected row is recorded in ``truth[fault]`` by its index in the returned list. The rows the skew removed
can come back as an unlabelled pool (`pool_of`): what a team's chat logs hold, mixed with distractors.
"""

from __future__ import annotations

import copy
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from tunewise.data.formats import input_text, normalize

FILLERS = ["please", "hi,", "hello", "thanks", "asap", "quick question:", "urgent:"]
BOILERPLATE = [
    "Sent from my iPhone",
    "[auto-reply] I am out of the office until Monday.",
    "hi",
    "test",
    "Thank you for contacting us. An agent will reply shortly.",
    "ok thanks",
    "?",
    "This message was sent from a device that cannot receive replies.",
]
OFF_TOPIC = [  # chat lines a banking assistant's logs hold that belong to no intent
    "what's the weather like tomorrow",
    "tell me a joke",
    "who won the game last night",
    "can you recommend a good pizza place nearby",
    "how do I reset my wifi router",
    "what time is it in Tokyo",
    "play some music",
    "I love this app, thanks for everything",
    "my cat keeps sitting on my keyboard",
    "how tall is the eiffel tower",
    "is it going to rain this weekend",
    "what's a good movie to watch tonight",
    "translate hello into spanish",
    "how many calories are in a banana",
    "you are a very helpful bot",
    "set an alarm for 7am",
]


@dataclass
class FaultRates:
    """Fractions of the clean row count to add (duplicates, empties, leaks) or change (labels)."""

    exact_duplicate: float = 0.05
    near_duplicate: float = 0.05
    decorated_duplicate: float = 0.0  # the same request with a greeting, a sign-off or more punctuation
    label_noise: float = 0.05
    empty: float = 0.01
    leakage: float = 0.02
    starve_classes: int = 0  # how many classes to cut down to `starve_to` rows
    starve_to: int = 3
    boilerplate: float = 0.0  # signatures, auto-replies, "test": no intent, but a label all the same
    skew_rarest: float = 0.0  # the rarest fraction of classes ...
    skew_keep: float = 1.0  # ... keeps only this fraction of its rows (the kept rows are marked 'skewed')
    duplicates_from_common: float = 0.0  # when > 0, duplicates copy rows of the most common fraction of classes
    noise_confusable_only: bool = False  # flip only rows whose label has a confusable neighbour


def inject(
    records: list[dict],
    task: str,
    rates: FaultRates,
    seed: int = 0,
    test_records: list[dict] | None = None,
    removed: list | None = None,
) -> tuple[list[dict], dict[str, list[int]]]:
    """Return (faulty rows, truth). ``records`` is not modified; output order is shuffled with ``seed``. The rows
    the skew takes out are appended to ``removed`` where given (the makings of a pool)."""
    rng = random.Random(seed)
    rows = [(copy.deepcopy(r), "clean") for r in records]
    removed = [] if removed is None else removed
    if rates.starve_classes and task == "classification":
        rows = _starve(rows, rates, rng)
    if rates.skew_rarest and task == "classification":
        rows = _skew(rows, rates, rng, removed)
    n = len(rows)
    if task == "classification" and rates.label_noise:
        _flip_labels(rows, round(n * rates.label_noise), rng, rates.noise_confusable_only)
    sources = [r for r, kind in rows if kind == "clean"]
    if rates.duplicates_from_common and task == "classification":
        sources = _of_common_classes(sources, rates.duplicates_from_common)
    rows += [
        (_restyled_copy(rng.choice(sources), task, rng), "exact_duplicate")
        for _ in range(round(n * rates.exact_duplicate))
    ]
    rows += [
        (_near_copy(rng.choice(sources), task, rng), "near_duplicate") for _ in range(round(n * rates.near_duplicate))
    ]
    rows += [
        (_decorated_copy(rng.choice(sources), task, rng), "decorated_duplicate")
        for _ in range(round(n * rates.decorated_duplicate))
    ]
    rows += [(_emptied(rng.choice(sources), task, rng), "empty") for _ in range(round(n * rates.empty))]
    rows += [(_boilerplate(rng.choice(sources), task, rng), "boilerplate") for _ in range(round(n * rates.boilerplate))]
    if test_records and rates.leakage:
        count = min(len(test_records), round(n * rates.leakage))
        rows += [(copy.deepcopy(r), "leakage") for r in rng.sample(test_records, count)]
    rng.shuffle(rows)
    truth: dict[str, list[int]] = defaultdict(list)
    for index, (_, kind) in enumerate(rows):
        if kind != "clean":
            truth[kind].append(index)
    return [row for row, _ in rows], dict(truth)


def pool_of(removed: list[dict], sources: list[dict], task: str, distractors: float, seed: int):
    """An unlabelled pool: the removed rows plus ``distractors`` (a share of the pool) of rows no intent wants
    to learn from: half near-copies of the most common third of classes' rows, half off-topic chat lines. Returns
    (pool rows without their labels, truth: per pool row its label, or None, and what it is). Its own seeded
    generator: the faulty rows are the same with or without a pool."""
    rng = random.Random(f"pool-{seed}")
    common = _of_common_classes(sources, 1 / 3) or sources
    count = round(len(removed) * distractors / max(1e-9, 1 - distractors)) if removed else 0
    found = [(copy.deepcopy(r), r.get("label"), "removed") for r in removed]
    for number in range(count):
        if number % 2 == 0:
            copied = _near_copy(rng.choice(common), task, rng)
            found.append((copied, copied.get("label"), "near_copy"))
        else:
            line = rng.choice(OFF_TOPIC)
            row = copy.deepcopy(rng.choice(sources))
            _set_input(row, task, _restyle(line, rng) if rng.random() < 0.5 else line)
            found.append((row, None, "off_topic"))
    rng.shuffle(found)
    rows = [{k: v for k, v in row.items() if k != "label"} for row, _, _ in found]
    return rows, [{"row": i, "label": label, "kind": kind} for i, (_, label, kind) in enumerate(found)]


def _starve(rows, rates: FaultRates, rng) -> list:
    """Cut `starve_classes` random classes down to `starve_to` rows (the kept rows are marked 'starved')."""
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[0]["label"]].append(row)
    starved = set(rng.sample(sorted(by_label), min(rates.starve_classes, len(by_label))))
    kept = []
    for label, members in by_label.items():
        if label in starved:
            kept += [(record, "starved") for record, _ in members[: rates.starve_to]]
        else:
            kept += members
    return kept


def _skew(rows, rates: FaultRates, rng, removed: list) -> list:
    """Keep only `skew_keep` of the rows of the rarest `skew_rarest` fraction of classes (ties broken by name);
    the rows taken out are appended to ``removed``."""
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[0]["label"]].append(row)
    ranked = sorted(by_label, key=lambda label: (len(by_label[label]), label))
    rare = set(ranked[: round(len(ranked) * rates.skew_rarest)])
    kept = []
    for label, members in by_label.items():
        if label in rare:
            count = max(1, round(len(members) * rates.skew_keep))
            chosen = rng.sample(range(len(members)), count)
            kept += [(members[i][0], "skewed") for i in chosen]
            removed += [copy.deepcopy(members[i][0]) for i in sorted(set(range(len(members))) - set(chosen))]
        else:
            kept += members
    return kept


def _of_common_classes(sources: list[dict], fraction: float) -> list[dict]:
    counts = Counter(r["label"] for r in sources)
    common = {label for label, _ in counts.most_common(max(1, round(len(counts) * fraction)))}
    return [r for r in sources if r["label"] in common]


def _flip_labels(rows, count: int, rng, confusable_only: bool = False) -> None:
    """Flip labels, preferring a confusable label: one whose name shares a word with the true label."""
    # Starved and skewed classes are not flip targets, so they stay as small as the truth says.
    labels = sorted({r["label"] for r, kind in rows if kind not in ("starved", "skewed")})
    words = {label: set(re.split(r"[_\W]+", label.lower())) - {""} for label in labels}
    if len(labels) < 2:
        return  # nothing to flip to
    confusable = {label for label in labels if any(words[label] & words[o] for o in labels if o != label)}
    flippable = confusable if confusable_only else set(labels)
    candidates = [i for i, (_, kind) in enumerate(rows) if kind == "clean" and rows[i][0]["label"] in flippable]
    for index in rng.sample(candidates, min(count, len(candidates))):
        row = rows[index][0]
        similar = [other for other in labels if other != row["label"] and words[other] & words[row["label"]]]
        row["label"] = rng.choice(similar or [other for other in labels if other != row["label"]])
        rows[index] = (row, "label_noise")


def _restyled_copy(record: dict, task: str, rng) -> dict:
    row = copy.deepcopy(record)
    _set_input(row, task, _restyle(_input_to_edit(row, task), rng))
    return row


def _restyle(text: str, rng) -> str:
    """The same text after normalisation: other case, spacing and punctuation."""
    choice = rng.randrange(3)
    if choice == 0:
        return text.upper()
    if choice == 1:
        return "  " + re.sub(r"\s+", "  ", text) + " "
    return text.rstrip(".?!") + ("!!" if text.endswith("!") else " ?")


GREETINGS = ["Hi, ", "Hello! ", "Hey there, ", "Good morning. ", "Excuse me, "]
SIGN_OFFS = [" Thanks!", " Thank you.", " Please help.", "...", " Cheers, Sam", " - sent from my phone"]


def _decorated_copy(record: dict, task: str, rng) -> dict:
    """A duplicate as people write one: the same request with a greeting, a sign-off or both. Normalisation does
    not undo it (unlike `_restyle`), so the exact-duplicate check cannot find it by construction."""
    row = copy.deepcopy(record)
    text, choice = _input_to_edit(row, task).strip(), rng.randrange(3)
    greeting = rng.choice(GREETINGS) if choice in (0, 2) else ""
    sign_off = rng.choice(SIGN_OFFS) if choice in (1, 2) else ""
    _set_input(row, task, f"{greeting}{text[:1].lower() if greeting else text[:1]}{text[1:]}{sign_off}")
    return row


def _near_copy(record: dict, task: str, rng) -> dict:
    row = copy.deepcopy(record)
    original = _input_to_edit(row, task)
    for _ in range(10):  # an edit that normalises away (e.g. swapping two equal letters) is not a near duplicate
        text = _edited(original, rng)
        if normalize(text) != normalize(original):
            break
    _set_input(row, task, text)
    return row


def _edited(text: str, rng) -> str:
    words = text.split()
    edit = rng.randrange(4)
    if edit == 0 and len(text) > 4:  # a typo: swap two neighbouring letters
        i = rng.randrange(1, len(text) - 2)
        text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    elif edit == 1:
        text = f"{rng.choice(FILLERS)} {text}"
    elif edit == 2 and len(words) > 4:  # drop one word
        words.pop(rng.randrange(len(words)))
        text = " ".join(words)
    else:
        text = f"{text} {rng.choice(FILLERS)}"
    return text


def _emptied(record: dict, task: str, rng) -> dict:
    row = copy.deepcopy(record)
    _set_input(row, task, rng.choice(["", " ", "\t", "   \n"]))
    return row


def _boilerplate(record: dict, task: str, rng) -> dict:
    row = copy.deepcopy(record)
    _set_input(row, task, rng.choice(BOILERPLATE))
    return row


def _input_to_edit(row: dict, task: str) -> str:
    """The text the faults change: the input, or for chat the last user message only."""
    if task == "chat":
        return next((m["content"] for m in reversed(row["messages"][:-1]) if m["role"] == "user"), "")
    return input_text(row, task)


def _set_input(row: dict, task: str, text: str) -> None:
    if task == "classification":
        row["text"] = text
    elif task == "chat":
        users = [m for m in row["messages"][:-1] if m["role"] == "user"]
        if users:
            users[-1]["content"] = text
    else:
        row["prompt"] = text
