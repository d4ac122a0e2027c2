import pytest
from kontor.core.models import ScopedQuerySet
from tests.isolation.test_sweep import *  # noqa

@pytest.fixture(autouse=True)
def _leak(monkeypatch):
    monkeypatch.setattr(ScopedQuerySet, "in_scope", lambda self, scope: self)
