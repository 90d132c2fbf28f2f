"""Vendor usage and cost APIs, polled in central mode."""

from .base import VendorPoller
from .registry import VENDOR_FACTORIES

__all__ = ["VENDOR_FACTORIES", "VendorPoller"]
