"""``python -m bench``: the benchmark (see bench/__init__.py)."""

from bench.cli import main

main()
