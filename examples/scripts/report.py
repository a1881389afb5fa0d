# /// script
# requires-python = ">=3.11"
# dependencies = ["sniffio==1.3.1"]
# ///
"""A uv script with PEP 723 dependencies: `supertask run --when=1h -- uv:./scripts/report.py` (from examples/).

uv installs the dependencies into a cached environment on the first run; later runs reuse it.
"""

import sys

import sniffio

print(f"report: sniffio {sniffio.__version__} on Python {sys.version.split()[0]}")
