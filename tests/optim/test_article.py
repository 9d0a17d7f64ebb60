"""The article's three classes, as printed there, against ours over 100 steps."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa

from article_classes import ArticleAdam, ArticleSGD, ArticleSGDMomentum

PAIRS = [
    (ArticleSGD, oa.SGD, {}),
    (ArticleSGD, oa.SGD, {"learning_rate": 0.1}),
    (ArticleSGDMomentum, oa.SGDMomentum, {}),
    (ArticleSGDMomentum, oa.SGDMomentum, {"learning_rate": 0.05, "momentum": 0.5}),
    (ArticleAdam, oa.Adam, {}),
    (ArticleAdam, oa.Adam, {"learning_rate": 0.1, "beta1": 0.8}),
]


def _grad(params):  # the article's quadratic x^2 + y^2
    return [2 * p for p in params]


@pytest.mark.parametrize("article,ours,hp", PAIRS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_same_numbers_as_the_article_over_100_steps(article, ours, hp):
    a, b = article(**hp), ours(**hp)
    pa = pb = [2.4, 1.8]
    for _ in range(100):
        pa = a.update(pa, _grad(pa))
        pb = b.update(pb, _grad(pb))
        assert isinstance(pb, list) and len(pb) == 2
        np.testing.assert_allclose(pb, pa, rtol=1e-12, atol=1e-300)


def test_defaults_are_the_articles():
    assert oa.SGD().learning_rate == 0.01
    m = oa.SGDMomentum()
    assert (m.learning_rate, m.momentum) == (0.01, 0.9)
    a = oa.Adam()
    assert (a.learning_rate, a.beta1, a.beta2, a.epsilon) == (0.001, 0.9, 0.999, 1e-8)


def test_readme_example():
    out = oa.Adam(learning_rate=0.1).update([3.0], [6.0])
    assert isinstance(out, list) and out[0] == pytest.approx(2.9, abs=1e-6)
