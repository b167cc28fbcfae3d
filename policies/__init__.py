"""Kefu policies package."""
