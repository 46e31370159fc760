"""Tests of codefusion.evaluation (a package, so that its conftest does not shadow tests/conftest.py)."""
