"""Fixtures of the key tests: the SoftHSM2 token (tests/softhsm.py)."""

from tests.softhsm import softhsm

__all__ = ["softhsm"]
