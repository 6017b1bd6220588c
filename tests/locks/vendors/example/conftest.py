"""The example vendor's registration: the one line a real vendor adds to locks/vendors/__init__.py."""

from __future__ import annotations

import pytest

from locks.models import LockConnection
from locks.vendors import VENDOR_ADAPTERS

from .adapter import SITES, Site

API_KEY = "ex-key-123"


@pytest.fixture(autouse=True)
def example_vendor(monkeypatch):
    monkeypatch.setitem(VENDOR_ADAPTERS, "example", "tests.locks.vendors.example.adapter.ExampleAdapter")
    SITES.clear()
    yield
    SITES.clear()


@pytest.fixture
def site() -> Site:
    site = Site(api_key=API_KEY, doors={"lock-1": "Front door", "lock-2": "Back door"})
    SITES["hq"] = site
    return site


def example_connection(space, *, name="Example", site="hq") -> LockConnection:
    return LockConnection.objects.create(
        space=space,
        vendor="example",
        name=name,
        credentials={"api_key": API_KEY},
        config={"site": site},
        status=LockConnection.Status.OK,
    )


@pytest.fixture
def connection(space_a, site):
    return example_connection(space_a)
