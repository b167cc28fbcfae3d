"""Kefu's plain-PyTorch BERT matches ``transformers.BertModel`` on the bundled all-MiniLM-L6-v2 weights,
and the tokenizer/tagging round trip maps entities to the right characters."""

from __future__ import annotations

import numpy as np
import torch

from bot.training_data import EntitySpan
from nlu.bert import BertEncoder, mean_pool
from nlu.pretrained import pretrained_folder
from nlu.tagging import decode_entities, encode_tags, entity_tag_names
from nlu.wordpiece import WordpieceTokenizer

TEXTS = ["where is my order A1234?", "Ship it from Berlin to Munich, please — it's urgent!!"]


def test_encoder_matches_transformers() -> None:
    import transformers

    folder = pretrained_folder()
    ours = BertEncoder.from_pretrained(folder).eval()
    theirs = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    batch = WordpieceTokenizer(folder).encode(TEXTS)
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    with torch.inference_mode():
        a = mean_pool(ours(ids, mask), mask)
        b = mean_pool(theirs(input_ids=ids, attention_mask=mask).last_hidden_state, mask)
    assert torch.allclose(a, b, atol=1e-4)


def test_tags_round_trip_to_character_spans() -> None:
    text = "move it from Frankfurt am Main to Köln, order A12345"
    spans = [
        EntitySpan(13, 30, "Frankfurt am Main", "city", role="from"),
        EntitySpan(34, 38, "Köln", "city", role="to"),
        EntitySpan(46, 52, "A12345", "order_id"),
    ]
    tokenizer = WordpieceTokenizer(pretrained_folder(), max_length=64)
    enc = tokenizer.encodings([text])[0]
    tags = entity_tag_names(["city", "order_id"])
    roles, groups = ["O", "from", "to"], ["O"]
    index = {t: i for i, t in enumerate(tags)}
    tag_ids, role_ids, group_ids = encode_tags(spans, enc.offsets, enc.word_ids, len(enc.ids), index,
                                               {r: i for i, r in enumerate(roles)}, {"O": 0})
    # turn the labels into one-hot "probabilities" and decode them back
    def one_hot(ids: np.ndarray, n: int) -> np.ndarray:
        return np.eye(n, dtype=np.float32)[np.clip(ids, 0, None)]

    decoded = decode_entities(text, enc.offsets, enc.word_ids, one_hot(tag_ids, len(tags)), one_hot(role_ids, 3),
                              one_hot(group_ids, 1), tags, roles, groups, "test")
    assert [(e["entity"], e["value"], e.get("role")) for e in decoded] == [
        ("city", "Frankfurt am Main", "from"), ("city", "Köln", "to"), ("order_id", "A12345", None),
    ]
    assert all(text[e["start"] : e["end"]] == e["value"] for e in decoded)


def test_a_word_glued_to_an_entity_joins_it_even_when_tagged_begin() -> None:
    """"#A12345": the model tags "#" and "A12345" both B-order_id; that is one id, not two."""
    text = "where is my order #A12345 and B-77"
    tokenizer = WordpieceTokenizer(pretrained_folder(), max_length=64)
    enc = tokenizer.encodings([text])[0]
    tags = entity_tag_names(["order_id"])
    begin = tags.index("B-order_id")
    tag_ids = torch.zeros(len(enc.ids), dtype=torch.long)
    for k, (start, _end) in enumerate(enc.offsets):
        if enc.word_ids[k] is not None and start >= text.index("#"):
            tag_ids[k] = begin  # every word from "#" on starts an entity
    probs = torch.nn.functional.one_hot(tag_ids, len(tags)).float()
    decoded = decode_entities(text, enc.offsets, enc.word_ids, probs, torch.zeros(len(enc.ids), 1),
                              torch.zeros(len(enc.ids), 1), tags, ["O"], ["O"], "test")
    values = [e["value"] for e in decoded]
    assert values[0] == "#A12345"  # one entity, not "#" and "A12345"
    assert "and" in values and "B-77" in values  # words separated by spaces stay separate entities


def test_sentence_punctuation_a_word_carries_is_not_part_of_the_value() -> None:
    """SentencePiece keeps "phone." and "「耳机」" as one word each: the entity is "phone" and "耳机"."""
    text = "a new phone. 「耳机」 ok"
    words = [(0, 1), (2, 5), (6, 12), (13, 17), (18, 20)]
    tags = entity_tag_names(["category"])
    tag_ids = [0, 0, tags.index("B-category"), tags.index("B-category"), 0]
    probs = np.eye(len(tags), dtype=np.float32)[tag_ids]
    decoded = decode_entities(text, words, list(range(len(words))), probs, np.zeros((5, 1)), np.zeros((5, 1)),
                              tags, ["O"], ["O"], "test")
    assert [(e["value"], e["start"], e["end"]) for e in decoded] == [("phone", 6, 11), ("耳机", 14, 16)]
