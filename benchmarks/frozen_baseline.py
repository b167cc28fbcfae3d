"""The baseline fine-tuning has to beat: frozen encoder embeddings + logistic regression on the same data.

The encoder is the pretrained one (no fine-tuning), mean-pooled as sentence-transformers and e5 pool,
L2-normalised; the regression's ``C`` is picked on a validation split when one is given.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np


def frozen_embeddings(model_name: str | None, texts: Sequence[str], batch_size: int = 128, max_length: int = 64) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence embeddings of ``texts`` from the pretrained encoder."""
    import torch

    from nlu.bert import BertEncoder, mean_pool
    from nlu.pretrained import pretrained_folder
    from nlu.wordpiece import WordpieceTokenizer

    folder = pretrained_folder(model_name)
    encoder = BertEncoder.from_pretrained(folder).eval()
    tokenizer = WordpieceTokenizer(folder, max_length)
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            idx = order[begin : begin + batch_size]
            batch = tokenizer.encode([texts[i] for i in idx])
            mask = torch.from_numpy(batch.attention_mask)
            pooled = mean_pool(encoder(torch.from_numpy(batch.input_ids), mask), mask)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def frozen_logistic_regression(
    model_name: str | None,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    val_texts: Sequence[str] = (),
    val_labels: Sequence[str] = (),
) -> tuple[list[str], np.ndarray, dict]:
    """Predicted labels and class probabilities for ``test_texts``, plus ``{C, seconds, classes}``."""
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    x_train = frozen_embeddings(model_name, train_texts)
    x_test = frozen_embeddings(model_name, test_texts)
    best_c, best_score = 10.0, -1.0
    if val_texts:
        x_val = frozen_embeddings(model_name, val_texts)
        for c in (1.0, 10.0, 100.0):
            model = LogisticRegression(max_iter=2000, C=c).fit(x_train, train_labels)
            score = float(np.mean(model.predict(x_val) == np.asarray(val_labels)))
            if score > best_score:
                best_c, best_score = c, score
    model = LogisticRegression(max_iter=2000, C=best_c).fit(x_train, train_labels)
    probs = model.predict_proba(x_test)
    predicted = [str(model.classes_[i]) for i in probs.argmax(axis=1)]
    info = {"C": best_c, "seconds": round(time.perf_counter() - started, 1), "classes": [str(c) for c in model.classes_]}
    return predicted, probs, info
