"""Numbers on top of the fixed world (tests/world.py says which): built once with the world and shared the
same way (tests/conftest.py), or built for this test where it commits for real."""

from __future__ import annotations

from typing import Any

import pytest

from tests.world import DEDICATED, ONE_WAY, SHARED, SHORT, SPARE, Nums, World, build_numbers

__all__ = ["DEDICATED", "ONE_WAY", "SHARED", "SHORT", "SPARE", "Nums", "nums"]


@pytest.fixture
def nums(world: World, shared_layer: Any) -> Nums:
    shared = shared_layer("nums")
    return shared if shared is not None else build_numbers(world)
