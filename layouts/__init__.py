"""Dash components only: no callbacks, no HTTP."""
