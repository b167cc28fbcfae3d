"""Kefu backends package."""
