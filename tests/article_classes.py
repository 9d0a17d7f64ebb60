"""The article's three optimizer classes, as printed there: pure Python over lists.

Shared by the tests that compare optarena against the article."""

from __future__ import annotations


class ArticleSGD:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def update(self, params, gradients):
        return [p - self.learning_rate * g for p, g in zip(params, gradients)]


class ArticleSGDMomentum:
    def __init__(self, learning_rate=0.01, momentum=0.9):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.velocity = None

    def update(self, params, gradients):
        if self.velocity is None:
            self.velocity = [0.0 for _ in params]
        self.velocity = [self.momentum * v + g for v, g in zip(self.velocity, gradients)]
        return [p - self.learning_rate * v for p, v in zip(params, self.velocity)]


class ArticleAdam:
    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.m = None
        self.v = None
        self.t = 0

    def update(self, params, gradients):
        if self.m is None:
            self.m = [0.0 for _ in params]
            self.v = [0.0 for _ in params]
        self.t += 1
        self.m = [self.beta1 * m + (1 - self.beta1) * g for m, g in zip(self.m, gradients)]
        self.v = [self.beta2 * v + (1 - self.beta2) * g**2 for v, g in zip(self.v, gradients)]
        m_hat = [m / (1 - self.beta1**self.t) for m in self.m]
        v_hat = [v / (1 - self.beta2**self.t) for v in self.v]
        return [p - self.learning_rate * m / (v**0.5 + self.epsilon) for p, m, v in zip(params, m_hat, v_hat)]
