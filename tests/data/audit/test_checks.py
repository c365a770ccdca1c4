"""Each audit check on small hand-made data where the right answer is known."""

import pytest

from tunewise.config import AuditConfig
from tunewise.data.audit import CHECKS, AuditContext, run_audit
from tunewise.data.audit.checks.pii import find_pii, iban_ok, luhn_ok
from tunewise.data.audit.report import headline
from tunewise.data.load import RowProblem
from tunewise.errors import TunewiseError


def context(texts_labels, task="classification", **kwargs) -> AuditContext:
    records = [{"text": t, "label": lab, "meta": {}} for t, lab in texts_labels]
    return AuditContext(records=records, task=task, row_ids=list(range(len(records))), settings=AuditConfig(), **kwargs)


def run(name, ctx):
    return CHECKS[name]().run(ctx)


def test_the_registry_is_the_one_list_of_check_names_and_runs_in_its_order():
    assert list(CHECKS)[:3] == ["malformed", "empty", "exact_duplicate"] and len(CHECKS) == 12
    ctx = context([("Where is my card?", "a"), ("where is my card", "a"), ("other", "b")])
    assert [f.check for f in run_audit(ctx, 3, "x").findings] == list(CHECKS)
    for settings in (AuditConfig(checks=["near_duplicat"]), AuditConfig(severity={"pi": "error"})):
        ctx.settings = settings
        with pytest.raises(TunewiseError, match=r"unknown check '(near_duplicat|pi)' \(known: malformed, empty"):
            run_audit(ctx, 3, "x")


def test_each_check_words_its_own_summary():
    ctx = context([("Where is my card?", "a"), ("where  is my CARD", "a"), ("other", "b")])
    assert headline(run("exact_duplicate", ctx)) == "1 groups, 1 removable copies"
    assert headline(run("empty", ctx)) == "0 rows"


def test_exact_duplicates_ignore_case_space_punctuation_but_not_labels():
    ctx = context([("Where is my card?", "a"), ("where  is my CARD", "a"), ("where is my card", "b"), ("other", "a")])
    finding = run("exact_duplicate", ctx)
    assert finding.rows == [0, 1]
    assert finding.detail["removable"] == 1


def test_near_duplicates_cluster_small_edits_only():
    ctx = context(
        [
            ("How do I activate my new card?", "a"),
            ("How do I actvate my new card?", "a"),  # typo
            ("please, how do I activate my new card?", "a"),  # added word
            ("What is the exchange rate today?", "b"),
        ]
    )
    finding = run("near_duplicate", ctx)
    assert finding.rows == [0, 1, 2]
    assert finding.detail["members"] == [[0, 1, 2]]


def test_duplicate_clusters_separate_harmful_rows_from_paraphrases():
    ctx = context(
        [
            ("How do I activate my new card?", "activate"),
            ("How do I actvate my new card?", "activate"),  # another wording, same intent: a paraphrase
            ("please, how do I activate my new card?", "activate"),  # and another
            ("Why was my card declined today?", "declined"),
            ("Why was my card declined today, please?", "card_arrival"),  # one request under two intents: harmful
        ]
    )
    finding = run("near_duplicate", ctx)
    assert (finding.detail["harmful_rows"], finding.detail["paraphrase_rows"]) == (2, 2)
    assert headline(finding).endswith(
        ": 2 rows in clusters that span labels (harmful), 2 same-label paraphrases (natural wordings)"
    )
    assert {m["label"] for m in finding.detail["examples"][1]} == {"declined", "card_arrival"}
    assert "harmful_rows" not in run("exact_duplicate", ctx).detail  # exact copies are copies, not paraphrases


def test_conflicting_duplicates_need_different_answers():
    ctx = context(
        [("I lost my card", "lost_card"), ("i lost my card!", "card_arrival"), ("new pin", "pin"), ("new pin", "pin")]
    )
    finding = run("conflicting_duplicate", ctx)
    assert finding.rows == [0, 1]
    assert finding.severity == "error"


def test_semantic_duplicates_find_paraphrases():
    ctx = context(
        [
            ("How can I reset my PIN?", "pin"),
            ("How do I reset my PIN code?", "pin"),
            ("What is the exchange rate for euros?", "rate"),
            ("My card payment was declined", "declined"),
        ]
    )
    finding = run(
        "semantic_duplicate", ctx.__class__(**{**ctx.__dict__, "settings": AuditConfig(semantic_threshold=0.7)})
    )
    assert finding.rows == [0, 1]


def test_label_issue_finds_a_flipped_label_and_suggests_the_right_one():
    pins = [
        f"I need to change my PIN {w}"
        for w in ("now", "today", "please", "quickly", "asap", "soon", "again", "tonight", "here", "online")
    ]
    rates = [
        f"What is the exchange rate for {c}"
        for c in ("euros", "dollars", "pounds", "yen", "francs", "pesos", "rupees", "krona", "zloty", "rand")
    ]
    rows = [(t, "change_pin") for t in pins] + [(t, "exchange_rate") for t in rates]
    rows[3] = (rows[3][0], "exchange_rate")  # a PIN question labelled as an exchange-rate question
    finding = run("label_issue", context(rows))
    assert 3 in finding.rows
    suggestion = next(s for s in finding.detail["suggestions"] if s["row"] == 3)
    assert suggestion["suggested_label"] == "change_pin"
    assert len(finding.rows) <= 2


def test_class_imbalance_flags_starved_classes():
    rows = [(f"query {i}", "big") for i in range(60)] + [(f"other {i}", "mid") for i in range(40)]
    rows += [(f"rare {i}", "rare") for i in range(3)]
    finding = run("class_imbalance", context(rows))
    assert finding.detail["below_minimum"] == {"rare": 3}
    assert finding.rows == [100, 101, 102]
    assert finding.detail["imbalance_ratio"] == 20.0


def test_leakage_counts_exact_near_and_ngram_matches_per_file():
    long = "the quick brown fox jumps over the lazy dog while the bank processes my transfer today"
    train = [
        ("Where is my new card?", "a"),
        ("where is my new card??", "a"),
        ("Where is my new card, ordered last week", "a"),
        (f"prefix words here {long}", "b"),
        ("something unrelated entirely", "c"),
    ]
    test = [
        {"text": "Where is my new card", "label": "a", "meta": {}},
        {"text": long, "label": "b", "meta": {}},
        {"text": "Where is my new card, ordred last week", "label": "a", "meta": {}},
    ]
    finding = run("leakage", context(train, against={"test.jsonl": test}))
    assert finding.rows == [0, 1, 2, 3]
    counts = finding.detail["files"]["test.jsonl"]
    assert (counts["exact"], counts["near"], counts["ngram"]) == (2, 1, 1)


def test_pii_detection_checks_luhn_and_iban():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert find_pii("mail me at jo.doe+x@example.co.uk") == ["email"]
    assert find_pii("card 4111 1111 1111 1111 please") == ["card_number"]
    assert find_pii("card 4111 1111 1111 1112 please") == []
    assert find_pii("call +44 20 7946 0958") == ["phone"]
    assert find_pii("my IBAN is GB82WEST12345698765432") == ["iban"]
    assert find_pii("I paid 25 euros on 12.03.2024") == []


def test_encoding_flags_mojibake_control_characters_and_other_scripts():
    ctx = context(
        [
            ("The cafÃ© charged me twice", "a"),
            ("bad\x07bell", "a"),
            ("Где моя карта?", "a"),
            ("normal text", "a"),
            ("more normal text", "a"),
        ]
    )
    finding = run("encoding", ctx)
    kinds = {e["row"]: e["kinds"] for e in finding.detail["examples"]}
    assert kinds == {0: ["mojibake"], 1: ["control_characters"], 2: ["script:CYRILLIC"]}


def test_length_uses_the_model_tokenizer(tiny_model_dir):
    ctx = context([("short", "a"), ("where is my new card " * 30, "a")], model_path=str(tiny_model_dir), max_length=40)
    finding = run("length", ctx)
    assert finding.rows == [1]
    assert finding.detail["tokens"]["max"] > 40


def test_malformed_and_empty_come_from_the_loader_problems():
    problems = [RowProblem(1, "d.jsonl:2", None, "malformed JSON (x)"), RowProblem(4, "d.jsonl:5", "text", "empty")]
    ctx = context([("a", "x"), ("b", "x")], problems=problems)
    ctx.row_ids = [0, 2]
    assert run("malformed", ctx).rows == [1]
    assert run("empty", ctx).rows == [4]


def test_a_crashing_check_is_recorded_and_the_audit_goes_on(monkeypatch):
    def boom(self, ctx):
        raise RuntimeError("kaput")

    monkeypatch.setattr(CHECKS["pii"], "run", boom)
    ctx = context([("a b c", "x"), ("d e f", "y")])
    ctx.settings = AuditConfig(checks=["pii", "exact_duplicate", "length"])
    result = run_audit(ctx, 2, "mem")
    status = {f.check: f.status for f in result.findings}
    assert status == {"pii": "error", "exact_duplicate": "ok", "length": "skipped"}
    assert result.failed and "kaput" in result.findings[0].detail["error"]


def test_severity_is_configurable():
    ctx = context([("same", "a"), ("same", "a")])
    ctx.settings = AuditConfig(checks=["exact_duplicate"], severity={"exact_duplicate": "error"})
    result = run_audit(ctx, 2, "mem")
    assert result.findings[0].severity == "error" and result.failed


def test_an_unknown_severity_is_a_config_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AuditConfig(severity={"pii": "fatal"})


def test_conflicting_outputs_are_only_a_warning_for_generation_data():
    records = [
        {"prompt": "summarise: hi", "completion": "a greeting", "meta": {}},
        {"prompt": "summarise: hi", "completion": "they say hello", "meta": {}},
    ]
    ctx = AuditContext(records=records, task="completion", row_ids=[0, 1], settings=AuditConfig())
    finding = run("conflicting_duplicate", ctx)
    assert finding.rows == [0, 1] and finding.severity == "warning"


def test_emoji_only_inputs_are_not_all_the_same_input():
    ctx = context([("😀", "pos"), ("😡", "neg"), ("😀", "pos")])
    assert run("conflicting_duplicate", ctx).rows == []
    assert run("exact_duplicate", ctx).rows == [0, 2]


def test_labels_differing_in_case_conflict_and_preference_pairs_key_on_both_answers():
    assert run("conflicting_duplicate", context([("refund please", "Refund"), ("refund please", "refund")])).rows == [
        0,
        1,
    ]
    records = [{"prompt": "p", "chosen": "good", "rejected": f"bad {i}", "meta": {}} for i in range(3)]
    ctx = AuditContext(records=records, task="preference", row_ids=[0, 1, 2], settings=AuditConfig())
    assert run("exact_duplicate", ctx).rows == []


def test_leakage_finds_a_test_chat_inside_a_longer_training_chat():
    def chat(*turns):
        roles = ["user", "assistant"] * (len(turns) // 2)
        return {"messages": [{"role": r, "content": t} for r, t in zip(roles, turns, strict=True)], "meta": {}}

    records = [
        chat("how do I freeze my card", "Open the app and tap Freeze.", "and unfreeze it?", "Tap it again."),
        chat("what is the exchange rate", "It changes daily."),
    ]
    ctx = AuditContext(
        records=records,
        task="chat",
        row_ids=[0, 1],
        settings=AuditConfig(),
        against={"test.jsonl": [chat("How do I freeze my card?", "Tap Freeze.")]},
    )
    finding = run("leakage", ctx)
    assert finding.rows == [0]
    counts = finding.detail["files"]["test.jsonl"]
    assert (counts["exact"], counts["near"], counts["earlier_turn"]) == (0, 0, 1)
