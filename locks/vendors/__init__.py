"""The vendor registry: vendor key → adapter class (dotted path, imported on first use).

Adding a vendor adds one line here (see CONTRIBUTING.md, "Adding a lock vendor").
"""

from django.utils.module_loading import import_string

VENDOR_ADAPTERS: dict[str, str] = {
    "smartlock": "locks.vendors.smartlock.adapter.SmartLockAdapter",
    "kisi": "locks.vendors.kisi.adapter.KisiAdapter",
    "thekeys": "locks.vendors.thekeys.adapter.TheKeysAdapter",
    "parakey": "locks.vendors.parakey.adapter.ParakeyAdapter",
}

_loaded: dict[str, type] = {}


def adapter_class(vendor: str):
    if vendor not in VENDOR_ADAPTERS:
        raise KeyError(f"Unknown lock vendor {vendor!r}.")
    if vendor not in _loaded:
        _loaded[vendor] = import_string(VENDOR_ADAPTERS[vendor])
    return _loaded[vendor]


def vendor_choices() -> list[tuple[str, str]]:
    return [(key, adapter_class(key).label) for key in VENDOR_ADAPTERS]


def adapter_for(connection):
    """The adapter instance for one LockConnection."""
    return adapter_class(connection.vendor)(connection)
