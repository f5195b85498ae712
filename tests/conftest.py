"""Suite-wide collection order: the modules holding a test marked `long` (minutes each) run first, whole, so that
under `pytest -n 2 --dist loadfile` (make test) the two workers start on them at once instead of one worker
finishing alone at the end."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    long_modules = {item.module for item in items if item.get_closest_marker("long") is not None}  # type: ignore[attr-defined]
    items.sort(key=lambda item: getattr(item, "module", None) not in long_modules)  # stable: keeps module order
