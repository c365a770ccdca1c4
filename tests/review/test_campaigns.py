"""Campaign rules on real storage (SQLite and PostgreSQL): who gets which item, votes, tokens, results."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.review.conftest import SYSTEMS, label_items, new_campaign, pairwise_items, relabel_items
from tunewise.errors import TunewiseError
from tunewise.review import auth, campaigns
from tunewise.review.auth import login, revoke, session_of
from tunewise.review.campaigns import Refused, next_assignment, submit
from tunewise.review.db import Item, Reviewer, Token, Vote, now, transaction
from tunewise.review.results import majority_labels, preference_pairs, relabel_patch, results


def _reviewer(db, name: str, campaign: str = "c") -> Reviewer:
    auth.invite(db, campaign, name)
    return db.scalar(select(Reviewer).where(Reviewer.name == name))


def _vote_everything(db, reviewer: Reviewer, choose) -> list:
    done = []
    while (assignment := next_assignment(db, reviewer)) is not None:
        submit(db, reviewer, assignment.public_id, choose(assignment))
        db.commit()
        done.append(assignment)
    return done


def test_each_item_goes_to_k_reviewers_and_never_twice_to_one(db_url):
    new_campaign(db_url, items=pairwise_items(5), per_item=2)
    with transaction(db_url) as db:
        reviewers = [_reviewer(db, name) for name in ("ann", "bob", "cyd")]
        handed = [_vote_everything(db, r, lambda a: {"choice": "A"}) for r in reviewers]
        per_item = Counter(a.item_id for done in handed for a in done)
        assert sorted(per_item.values()) == [2] * 5  # every item exactly K times, no more
        for done in handed:
            assert len({a.item_id for a in done}) == len(done)  # no reviewer saw an item twice
        assert [len(done) for done in handed] == [5, 5, 0]  # the first two covered it; nothing left for cyd
        assert db.scalar(select(func.count()).select_from(Vote)) == 10


def test_left_right_order_is_drawn_per_reviewer_and_votes_map_back_to_systems(db_url):
    new_campaign(db_url, items=pairwise_items(30), per_item=1)
    with transaction(db_url) as db:
        ann = _reviewer(db, "ann")
        done = _vote_everything(db, ann, lambda a: {"choice": "A"})  # always the left response
        lefts = Counter(a.order[0] for a in done)
        assert set(lefts) == set(SYSTEMS) and min(lefts.values()) >= 5  # both orders drawn (p of failing ~ 1e-4)
        found = results(db, "c")
        assert found["win_rates"][SYSTEMS[0]]["wins"] == lefts[SYSTEMS[0]]  # a left-vote credits whoever was left
        assert found["position_bias"]["left_share"] == 1.0


def test_a_repeated_submit_stores_one_vote(db_url):
    new_campaign(db_url)
    with transaction(db_url) as db:
        ann = _reviewer(db, "ann")
        assignment = next_assignment(db, ann)
        first, created = submit(db, ann, assignment.public_id, {"choice": "B"})
        again, created_again = submit(db, ann, assignment.public_id, {"choice": "B"})  # a retry
        assert created and not created_again and again.id == first.id and again.answer["choice"] == "B"
        with pytest.raises(Refused, match="already has your vote, with another answer") as refused:
            submit(db, ann, assignment.public_id, {"choice": "A"})
        assert refused.value.status == 409
        assert db.scalar(select(func.count()).select_from(Vote)) == 1


def test_bad_answers_and_other_reviewers_items_are_refused_and_nothing_is_stored(db_url):
    new_campaign(db_url)
    with transaction(db_url) as db:
        ann, bob = _reviewer(db, "ann"), _reviewer(db, "bob")
        assignment = next_assignment(db, ann)
        with pytest.raises(Refused, match="choice must be one of"):
            submit(db, ann, assignment.public_id, {"choice": "left"})
        with pytest.raises(Refused, match="no such item") as refused:
            submit(db, bob, assignment.public_id, {"choice": "A"})
        assert refused.value.status == 404
        assert db.scalar(select(func.count()).select_from(Vote)) == 0


def test_rating_and_relabel_answers(db_url):
    new_campaign(db_url, name="r", kind="rating", items=pairwise_items(1), per_item=1)
    new_campaign(db_url, name="l", kind="relabel", items=relabel_items(1), per_item=1)
    with transaction(db_url) as db:
        rater = _reviewer(db, "ann", "r")
        assignment = next_assignment(db, rater)
        criteria = [c["name"] for c in campaigns.DEFAULT_CRITERIA]
        with pytest.raises(Refused, match="response 2: relevance needs a score"):
            submit(db, rater, assignment.public_id, {"scores": {"1": dict.fromkeys(criteria, 3), "2": {}}})
        with pytest.raises(Refused, match="needs a score from 1 to 5"):
            submit(db, rater, assignment.public_id, {"scores": {s: dict.fromkeys(criteria, 6) for s in "12"}})
        vote, _ = submit(
            db,
            rater,
            assignment.public_id,
            {"scores": {"1": dict.fromkeys(criteria, 4), "2": dict.fromkeys(criteria, 2)}},
        )
        assert vote.answer["scores"][assignment.order[0]]["tone"] == 4  # stored per system, not per slot
        assert vote.answer["scores"][assignment.order[1]]["tone"] == 2
        labeller = _reviewer(db, "bob", "l")
        assignment = next_assignment(db, labeller)
        with pytest.raises(Refused, match="one of the campaign's labels"):
            submit(db, labeller, assignment.public_id, {"label": "made_up"})
        vote, _ = submit(db, labeller, assignment.public_id, {"label": "card_lost"})
        assert vote.answer == {"label": "card_lost", "accepted_suggestion": True}


def test_tokens_are_stored_hashed_expire_and_can_be_revoked(db_url):
    new_campaign(db_url)
    with transaction(db_url) as db:
        token = auth.invite(db, "c", "ann")
        assert token not in {t.token_hash for t in db.scalars(select(Token))}
        secret, _ = login(db, token)
        assert session_of(db, secret)[0].name == "ann"
        with pytest.raises(Refused, match="not valid"):
            login(db, token + "x")
        old = auth.invite(db, "c", "bob")
        for stored in db.scalars(select(Token).where(Token.token_hash == auth.digest(old))):
            stored.expires_at = now() - timedelta(seconds=1)
        with pytest.raises(Refused, match="expired"):
            login(db, old)
        assert revoke(db, "c", "ann") == 1
        assert session_of(db, secret) is None  # revoking ends the sessions too
        with pytest.raises(Refused, match="not valid"):
            login(db, token)


def test_creating_is_refused_before_anything_is_stored(db_url):
    new_campaign(db_url)
    with transaction(db_url) as db:
        items_before = db.scalar(select(func.count()).select_from(Item))
        with pytest.raises(TunewiseError, match="already exists"):
            campaigns.create_campaign(db, "c", "pairwise", pairwise_items(2))
        with pytest.raises(TunewiseError, match="at least 1"):
            campaigns.create_campaign(db, "d", "pairwise", pairwise_items(2), per_item=0)
        with pytest.raises(TunewiseError, match="anchors"):
            campaigns.create_campaign(
                db, "e", "rating", pairwise_items(2), rubric=[{"name": "x", "question": "?", "anchors": ["a"]}]
            )
        with pytest.raises(TunewiseError, match="unknown campaign 'nope' \\(known: c\\)"):
            auth.invite(db, "nope", "ann")
        assert db.scalar(select(func.count()).select_from(Item)) == items_before


def test_results_preferences_and_relabel_patch(db_url):
    new_campaign(db_url, items=pairwise_items(6), per_item=2)
    new_campaign(db_url, name="l", kind="relabel", items=relabel_items(3), per_item=2)
    with transaction(db_url) as db:
        ann, bob = _reviewer(db, "ann"), _reviewer(db, "bob")
        prefer = {"ann": SYSTEMS[1], "bob": SYSTEMS[1]}

        def choose_for(name):
            def choose(assignment):  # item-0 is a tie for everyone; else the preferred system, wherever it sits
                if db.get(Item, assignment.item_id).key == "item-0":
                    return {"choice": "tie"}
                return {"choice": "A" if assignment.order[0] == prefer[name] else "B"}

            return choose

        _vote_everything(db, ann, choose_for("ann"))
        _vote_everything(db, bob, choose_for("bob"))
        found = results(db, "c")
        tuned = found["win_rates"][SYSTEMS[1]]
        assert (tuned["wins"], tuned["losses"], tuned["ties"]) == (10, 0, 2)
        assert found["bradley_terry"][SYSTEMS[1]]["score"] > found["bradley_terry"][SYSTEMS[0]]["score"]
        assert found["agreement"]["cohen_kappa"][0]["items"] == 6
        assert [r["agreement_with_others"] for r in found["reviewers"]] == [1.0, 1.0]
        pairs = preference_pairs(db, "c")
        assert len(pairs) == 10 and all(p["chosen"].startswith("answer two") for p in pairs)
        assert set(pairs[0]) == {"prompt", "chosen", "rejected", "meta"}

        cyd, dee = _reviewer(db, "cyd", "l"), _reviewer(db, "dee", "l")
        picks = {"0": ("card_lost", "card_lost"), "1": ("card_lost", "exchange_rate"), "2": ("card_arrival",) * 2}
        for index, person in enumerate((cyd, dee)):
            _vote_everything(db, person, lambda a, i=index: {"label": picks[db.get(Item, a.item_id).key][i]})
        patch = relabel_patch(db, "l")
        assert patch == [{"row": "0", "from": "card_arrival", "to": "card_lost", "votes": 2, "agreeing": 2}]
        assert results(db, "l")["suggestion_accepted"]["votes"] == 3


def test_an_item_left_unanswered_goes_back_to_the_pool_and_revoking_frees_items(db_url):
    new_campaign(db_url, items=pairwise_items(2), per_item=1)
    with transaction(db_url) as db:
        ann, bob, cyd = _reviewer(db, "ann"), _reviewer(db, "bob"), _reviewer(db, "cyd")
        kept = next_assignment(db, ann)
        abandoned = next_assignment(db, bob)
        assert next_assignment(db, cyd) is None  # both items are out, one reviewer each
        abandoned.created_at = now() - timedelta(minutes=campaigns.STALE_MINUTES + 1)
        db.flush()
        again = next_assignment(db, cyd)
        assert again is not None and again.item_id == abandoned.item_id  # the stale one came back
        with pytest.raises(Refused, match="back to the pool"):
            submit(db, bob, abandoned.public_id, {"choice": "A"})
        revoke(db, "c", "ann")
        assert next_assignment(db, bob).item_id == kept.item_id  # ann's open item is free again
        assert sorted(i.reviewers for i in db.scalars(select(Item))) == [1, 1]


def test_a_double_submit_at_the_same_moment_stores_one_vote(db_url):
    """Two requests for one assignment racing (a double click, a retried request): one vote, no error."""
    import threading

    from tunewise.review.db import connect, sessions

    new_campaign(db_url)
    with transaction(db_url) as db:
        ann = _reviewer(db, "ann")
        public_id = next_assignment(db, ann).public_id
    engine = connect(db_url)
    make = sessions(engine)
    start, outcomes = threading.Barrier(2), []

    def vote():
        db = make()
        try:
            reviewer = db.get(Reviewer, ann.id)
            db.commit()  # end the read: SQLite would hold its write lock through the wait below
            start.wait(timeout=30)
            stored, created = submit(db, reviewer, public_id, {"choice": "A"})
            db.commit()
            outcomes.append((stored.id, created))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcomes.append(exc)
        finally:
            db.close()

    voters = [threading.Thread(target=vote) for _ in range(2)]
    for voter in voters:
        voter.start()
    for voter in voters:
        voter.join()
    engine.dispose()
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert len({vote_id for vote_id, _ in outcomes}) == 1 and sorted(c for _, c in outcomes) == [False, True]


@pytest.mark.parametrize(
    "answer", [{"choice": []}, {"choice": None}, {"choice": {"A": 1}}, "A", {"scores": "x"}, {"label": 3}]
)
def test_malformed_answers_are_refused_not_crashes(sqlite_url, answer):
    new_campaign(sqlite_url)
    with transaction(sqlite_url) as db:
        ann = _reviewer(db, "ann")
        with pytest.raises(Refused):
            submit(db, ann, next_assignment(db, ann).public_id, answer)


def test_rating_scores_must_be_whole_numbers(sqlite_url):
    new_campaign(sqlite_url, name="r", kind="rating", items=pairwise_items(1), per_item=1)
    criteria = [c["name"] for c in campaigns.DEFAULT_CRITERIA]
    with transaction(sqlite_url) as db:
        ann = _reviewer(db, "ann", "r")
        assignment = next_assignment(db, ann)
        for bad in (True, 2.5):
            with pytest.raises(Refused, match="needs a score"):
                submit(db, ann, assignment.public_id, {"scores": {s: dict.fromkeys(criteria, bad) for s in "12"}})
        vote, _ = submit(db, ann, assignment.public_id, {"scores": {s: dict.fromkeys(criteria, "4") for s in "12"}})
        assert set(vote.answer["scores"][assignment.order[0]].values()) == {4}


def test_the_migration_builds_exactly_the_models_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tunewise.review.db import Base, connect

    engine = connect(db_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_a_label_campaign_asks_for_a_label_blind_to_the_suggestions_source_and_exports_majorities(db_url):
    new_campaign(db_url, name="pool", kind="label", items=label_items(12), per_item=3)
    with transaction(db_url) as db:
        ann, bob, cyd = (_reviewer(db, name, "pool") for name in ("ann", "bob", "cyd"))
        db.commit()
        first = next_assignment(db, ann)
        view = campaigns.view_of(campaigns.campaign_named(db, "pool"), db.get(Item, first.item_id), first)
        assert sorted(view["choices"]) == ["card_arrival", "card_lost", "exchange_rate"]
        assert "meta" not in view and SYSTEMS[0] not in str(view) and "thin" not in str(view)
        with pytest.raises(Refused, match="none of these, or unclear"):
            submit(db, ann, first.public_id, {"label": "made_up"})
        db.rollback()
        orders = set()
        answers = {  # item position -> what each reviewer says
            "ann": ["card_arrival"] * 6 + ["__none__"] * 3 + ["card_lost"] * 3,
            "bob": ["card_arrival"] * 5 + ["top_up"] + ["__none__"] * 3 + ["__unclear__"] * 3,
            "cyd": ["card_arrival"] * 6 + ["__none__"] * 2 + ["exchange_rate"] + ["card_lost"] * 3,
        }
        for reviewer in (ann, bob, cyd):
            done = _vote_everything(db, reviewer, lambda a, r=reviewer: {"label": answers[r.name][_position(db, a)]})
            orders |= {tuple(a.order) for a in done}
        assert len(orders) > 1  # the choices' order is drawn per reviewer and item, not fixed
        rows, counts = majority_labels(db, "pool")
        found = results(db, "pool")
    assert counts == {"labelled": 9, "none_of_these": 3}  # items 9-11: card_lost 2 of 3, a majority
    by_id = {row["id"]: row for row in rows}
    assert by_id["0"]["label"] == "card_arrival" and by_id["0"]["agreement"] == 1.0
    assert by_id["5"] == by_id["5"] | {"label": "card_arrival", "votes": 3, "agreeing": 2, "status": "labelled"}
    assert by_id["6"]["status"] == "none_of_these" and by_id["6"]["label"] is None
    assert by_id["0"]["reviewers"] == ["ann", "bob", "cyd"] and by_id["0"]["meta"]["why"] == "thin"
    assert found["answers"]["unclear"] == 3 and found["answers"]["none_of_these"] == 8
    assert found["suggestion_accepted"]["votes"] == 17  # card_arrival, the suggestion, 6 + 5 + 6 times
    assert 0 < found["agreement"]["krippendorff_alpha"]["alpha"] < 1


def _position(db, assignment) -> int:
    return db.get(Item, assignment.item_id).position
