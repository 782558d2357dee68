"""``python -m elicence.cli``: the command line, as the ``elicence`` console script runs it."""

from elicence.cli import main

main()
