"""Fixtures for the scoring kernels: small real multi-vector pages and queries."""

from page_fixtures import queries, ragged_pages, rng

__all__ = ["queries", "ragged_pages", "rng"]
