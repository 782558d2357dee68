"""Tests of elicence.templates."""
