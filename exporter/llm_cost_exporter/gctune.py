"""Garbage collector settings for ingestion-heavy processes."""

from __future__ import annotations

import gc

# Ingestion allocates and frees millions of small containers, and the aggregator keeps large,
# acyclic tables alive. With the default threshold (700) the collector re-scans those tables
# often; a larger first-generation threshold keeps that cost small. Nothing here relies on
# cycle collection, so only the collection frequency changes.
FIRST_GENERATION_THRESHOLD = 50_000


def tune_for_ingestion() -> None:
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)
