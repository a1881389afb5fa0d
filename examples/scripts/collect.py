"""A Python file run by `supertask run --when=10s -- python:./scripts/collect.py` (from examples/)."""

import os
import shutil
import time

total, used, free = shutil.disk_usage("/")
load1, _, _ = os.getloadavg()
print(f"{time.strftime('%H:%M:%S')} load={load1:.2f} disk_free={free / 2**30:.1f}GiB")
