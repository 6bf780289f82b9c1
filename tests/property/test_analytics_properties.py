"""Properties 34 (model improvement with training data) and 36 (feedback integration) on the
categoriser (issue 8)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from cio_desktop.domain import categoriser as cz
from tests.planning_fixtures import synthetic_texts

#: Held-out accuracy is measured on 200 lines, whose sampling error is ~1 point; a drop of
#: more than 3 points (6 lines) between nested training sets would be a real fall.
TOLERANCE = 0.03


@given(seed=st.integers(0, 2**31 - 1), noise=st.floats(0.0, 0.4))
def test_property_34_model_improvement_with_training_data(seed, noise) -> None:
    rng = np.random.default_rng(seed)
    texts, labels = synthetic_texts(rng, 400, noise=noise)
    held_t, held_l = synthetic_texts(rng, 200, noise=noise)
    accs = [cz.accuracy(cz.train(texts[:m], labels[:m]), held_t, held_l) for m in (20, 100, 400)]
    for small, large in zip(accs, accs[1:]):
        assert large >= small - TOLERANCE, accs
    assert accs[-1] >= accs[0], accs


@given(seed=st.integers(0, 2**31 - 1), pick=st.integers(0, 199), data=st.data())
def test_property_36_feedback_integration(seed, pick, data) -> None:
    rng = np.random.default_rng(seed)
    texts, labels = synthetic_texts(rng, 200)
    model = cz.train(texts, labels)
    case = texts[pick]
    before = model.predict([case])[0]
    new = data.draw(st.sampled_from(sorted(set(model.classes) - {before})))
    # the correction as the service applies it: an override at once, and in the next training
    corrections = {case: new}
    assert cz.Categoriser(model.classes, model.log_prior, model.feature_log_prob, corrections).predict([case]) == [new]
    retrained = cz.train(texts + [case], labels + [new], weights=[1.0] * len(texts) + [cz.CORRECTION_WEIGHT],
                         overrides=corrections)
    assert retrained.predict([case]) == [new]
    # and without the override, the retrained weights alone move the prediction
    bare = cz.Categoriser(retrained.classes, retrained.log_prior, retrained.feature_log_prob, {})
    assert bare.predict([case]) == [new]
