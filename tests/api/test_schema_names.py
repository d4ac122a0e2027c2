"""django-ninja names OpenAPI components after the schema class; two classes with one name silently
replace each other in the published schema. Keep every schema class name unique."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

from ninja import Schema

import kontor


def test_schema_class_names_are_unique_across_the_api():
    for module in pkgutil.walk_packages(kontor.__path__, "kontor."):
        if module.name.endswith(("api", "schemas")) or ".api." in module.name:
            importlib.import_module(module.name)
    seen: dict[str, set[str]] = defaultdict(set)
    stack = list(Schema.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("kontor."):
            seen[cls.__name__].add(cls.__module__)
    clashes = {name: mods for name, mods in seen.items() if len(mods) > 1}
    assert not clashes, f"schema names used in more than one module: {clashes}"
    assert len(seen) > 20  # the walk found the API's schemas
