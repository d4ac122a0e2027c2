"""Acme's Sales account gets typed custom columns besides the world's Name and Surname, and a phonebook."""

from __future__ import annotations

import pytest

from kontor.contacts import services
from kontor.tenancy.models import CustomColumn


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.KONTOR_IMPORT_UPLOAD_DIR = str(tmp_path / "uploads")


@pytest.fixture
def columns(world) -> dict[str, CustomColumn]:
    a = world.acme
    made = {c.name: c for c in a.columns}
    for position, (name, kind) in enumerate(
        [("Birthday", "date"), ("Score", "number"), ("Email", "email"), ("Work phone", "phone")], start=3
    ):
        made[name] = CustomColumn.objects.create(
            customer=a.customer, account=a.account, position=position, name=name, type=kind
        )
    return made


@pytest.fixture
def book(world, columns):
    return services.create_phonebook(world.acme.account, actor=world.acme.master, name="Customers")
