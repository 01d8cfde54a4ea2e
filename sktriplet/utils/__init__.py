"""Shared validation helpers (private API)."""
