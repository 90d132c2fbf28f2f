"""Vendor poller types as the config's `type` key spells them."""

from __future__ import annotations

from collections.abc import Callable

from .base import VendorPoller

VENDOR_FACTORIES: dict[str, Callable[..., VendorPoller]] = {}
