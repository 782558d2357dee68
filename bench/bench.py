"""``.venv/bin/python bench/bench.py``: the benchmark's command line (the package is ``bench``).

Run as a script, this file's directory comes first on ``sys.path`` and would shadow the package
``bench`` with this very file; the repository's root takes its place before the import.
"""

import sys
from pathlib import Path

if __name__ in ("__main__", "__mp_main__"):
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

if __name__ == "__main__":
    from bench.cli import main

    main()
