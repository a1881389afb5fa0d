"""``python -m supertask``: the same as the ``supertask`` command."""

from __future__ import annotations

if __name__ == "__main__":
    from supertask.cli import run_main

    run_main()
