"""The transaction categoriser: multinomial naive Bayes over hashed words of the counterparty
and description (digits folded to 0, so invoice numbers do not fragment the vocabulary), plus
the flow's direction, with user corrections applied first as exact overrides.

Why naive Bayes: it trains in one pass (counts), its parameters are plain arrays that can be
stored without pickle (``to_bytes``/``from_bytes`` use ``numpy.savez`` and load with
``allow_pickle=False``), and its held-out accuracy grows steadily with data rather than
jumping (property 34). Corrections are also added to the training set with ``CORRECTION_WEIGHT``
so a retrained model generalises them to similar lines (property 36).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

N_FEATURES = 2 ** 14
SMOOTHING = 0.1
CORRECTION_WEIGHT = 20.0
_DIGITS = re.compile(r"\d")
_SPACE = re.compile(r"\s+")


def normalise(counterparty: str, description: str, amount: float) -> str:
    """The text the model sees for one line (also the key of a user correction)."""
    text = f"{counterparty} | {description}".lower()
    text = _SPACE.sub(" ", _DIGITS.sub("0", text)).strip()
    return f"{'__in__' if amount > 0 else '__out__'} {text}"


def _vectorizer():  # noqa: ANN202
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=N_FEATURES, alternate_sign=False, norm=None,
                             ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", lowercase=False)


@dataclass
class Categoriser:
    classes: np.ndarray            # category names
    log_prior: np.ndarray          # classes
    feature_log_prob: np.ndarray   # classes × N_FEATURES (float32)
    overrides: dict[str, str]

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        X = _vectorizer().transform(list(texts))
        return np.asarray(X @ self.feature_log_prob.T.astype(np.float64)) + self.log_prior

    def predict_proba(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Best category and its probability for each text (overrides: probability 1)."""
        if not len(texts):
            return [], np.zeros(0)
        s = self.scores(texts)
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        best = p.argmax(axis=1)
        labels = [str(self.classes[i]) for i in best]
        conf = p[np.arange(len(texts)), best]
        for i, t in enumerate(texts):
            if t in self.overrides:
                labels[i], conf[i] = self.overrides[t], 1.0
        return labels, conf

    def predict(self, texts: Sequence[str]) -> list[str]:
        return self.predict_proba(texts)[0]

    # -- storage (no pickle) -----------------------------------------------------------
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, classes=np.array(self.classes, dtype=str), log_prior=self.log_prior,
                            feature_log_prob=self.feature_log_prob.astype(np.float32))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes, overrides: Mapping[str, str] | None = None) -> "Categoriser":
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            return cls(z["classes"], z["log_prior"], z["feature_log_prob"], dict(overrides or {}))


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def train(texts: Sequence[str], labels: Sequence[str], *, weights: Sequence[float] | None = None,
          overrides: Mapping[str, str] | None = None) -> Categoriser:
    """Fit on (text, label) pairs; identical pairs are merged (their weights add)."""
    if not texts:
        raise ValueError("no categorised lines to learn from")
    merged: dict[tuple[str, str], float] = {}
    for i, (t, y) in enumerate(zip(texts, labels)):
        w = 1.0 if weights is None else float(weights[i])
        merged[(t, y)] = merged.get((t, y), 0.0) + w
    keys = list(merged)
    classes = np.array(sorted({y for _, y in keys}))
    index = {c: i for i, c in enumerate(classes)}
    X = _vectorizer().transform([t for t, _ in keys])
    w = np.array([merged[k] for k in keys])
    Y = np.zeros((len(keys), len(classes)))
    Y[np.arange(len(keys)), [index[y] for _, y in keys]] = w
    counts = np.asarray((X.T @ Y).T) + SMOOTHING            # classes × features
    flp = np.log(counts) - np.log(counts.sum(axis=1, keepdims=True))
    prior = Y.sum(axis=0)
    log_prior = np.log(prior / prior.sum())
    return Categoriser(classes, log_prior, flp.astype(np.float32), dict(overrides or {}))


def accuracy(model: Categoriser, texts: Sequence[str], labels: Sequence[str]) -> float:
    if not texts:
        return float("nan")
    pred = model.predict(texts)
    return float(np.mean([p == y for p, y in zip(pred, labels)]))
