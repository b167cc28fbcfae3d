"""Response selection: conditions on slots, channel variations, interpolation, seeded choice."""

from __future__ import annotations

from bot.nlg import TemplatedNLG, interpolate_text

RESPONSES = {
    "utter_sorry": [
        {"text": "I'm truly sorry, {name}.", "condition": [{"type": "slot", "name": "sentiment", "value": "angry"}]},
        {"text": "Don't worry.", "condition": [{"type": "slot", "name": "sentiment", "value": "anxious"}]},
        {"text": "Okay."},
    ],
    "utter_hi": [
        {"text": "Hi there (socket)", "channel": "socketio", "image": "https://x/{name}.png"},
        {"text": "Hi plain"},
    ],
    "utter_many": [{"text": f"variant {i}"} for i in range(5)],
    "utter_confirm": [{"text": "Cancel order {order_id}?", "buttons": [
        {"title": "Yes {order_id}", "payload": '/affirm{{"order_id": "{order_id}"}}'}]}],
    "utter_custom": [{"custom": {"card": {"id": "{order_id}", "n": 3}}, "attachment": {"url": "https://a/{order_id}"}}],
    "utter_channel_only": [{"text": "only socket", "channel": "socketio"}],
}


def test_condition_on_sentiment_picks_apologetic_variant() -> None:
    nlg = TemplatedNLG(RESPONSES, seed=1)
    assert nlg.generate("utter_sorry", {"sentiment": "angry", "name": "Mia"})["text"] == "I'm truly sorry, Mia."
    assert nlg.generate("utter_sorry", {"sentiment": "anxious"})["text"] == "Don't worry."


def test_unmatched_condition_falls_back_to_plain_variants() -> None:
    nlg = TemplatedNLG(RESPONSES, seed=1)
    for _ in range(10):
        assert nlg.generate("utter_sorry", {"sentiment": "neutral"})["text"] == "Okay."


def test_channel_variation_wins_on_its_channel_only() -> None:
    nlg = TemplatedNLG(RESPONSES, seed=1)
    socket = nlg.generate("utter_hi", {"name": "kefu"}, channel="socketio")
    assert socket["text"] == "Hi there (socket)"
    assert socket["image"] == "https://x/kefu.png"
    assert nlg.generate("utter_hi", {}, channel="rest")["text"] == "Hi plain"
    assert nlg.generate("utter_channel_only", {}, channel="rest") is None


def test_interpolates_buttons_custom_and_attachment() -> None:
    nlg = TemplatedNLG(RESPONSES)
    message = nlg.generate("utter_confirm", {"order_id": "A12345"})
    assert message["text"] == "Cancel order A12345?"
    assert message["buttons"][0]["title"] == "Yes A12345"
    custom = nlg.generate("utter_custom", {"order_id": "A1"})
    assert custom["custom"] == {"card": {"id": "A1", "n": 3}}
    assert custom["attachment"] == {"url": "https://a/A1"}
    assert RESPONSES["utter_custom"][0]["custom"]["card"]["id"] == "{order_id}"  # the domain is not changed


def test_unknown_placeholder_leaves_text_unchanged() -> None:
    assert interpolate_text("Hello {nobody}, order {order_id}", {"order_id": "A1"}) == "Hello {nobody}, order {order_id}"
    assert interpolate_text("Order {order_id}", {"order_id": None}) == "Order None"


def test_seeded_choice_is_reproducible_and_varies() -> None:
    first = [TemplatedNLG(RESPONSES, seed=3).generate("utter_many", {})["text"] for _ in range(1)]
    nlg_a, nlg_b = TemplatedNLG(RESPONSES, seed=3), TemplatedNLG(RESPONSES, seed=3)
    draws_a = [nlg_a.generate("utter_many", {})["text"] for _ in range(20)]
    draws_b = [nlg_b.generate("utter_many", {})["text"] for _ in range(20)]
    assert draws_a == draws_b
    assert draws_a[0] == first[0]
    assert len(set(draws_a)) > 1


def test_missing_response_gives_none() -> None:
    assert TemplatedNLG(RESPONSES).generate("utter_nothing", {}) is None
