"""Fixtures the optimizer tests share."""

import pytest


@pytest.fixture
def torch_dtype():
    """Restores torch's default dtype after a test that sets it (torch keeps scalar state in it)."""
    torch = pytest.importorskip("torch")
    old = torch.get_default_dtype()
    yield
    torch.set_default_dtype(old)
