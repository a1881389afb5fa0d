"""Per-job statistics: counters plus log-bucketed histograms (~2 % resolution) for lateness and duration."""

from __future__ import annotations

import math

import msgspec

__all__ = ["Histogram", "JobCounters", "JobStats"]

_PER_OCTAVE = 32  # bucket width 2**(1/32) ≈ 2.2 %
_NBUCKETS = 64 * _PER_OCTAVE  # 1 ns … 2**63 ns


class Histogram:
    """A log-bucketed histogram of non-negative seconds; memory stays constant at any rate.

    Buckets are kept sparsely (a dict of the non-empty ones), so a job that never runs, or
    whose values fall into a few dozen buckets, costs next to nothing: a scheduler may hold
    100 000 of them.
    """

    __slots__ = ("_log2", "counts", "max", "n", "total")

    def __init__(self) -> None:
        #: bucket index -> count (bucket 0: below 1 ns; bucket i: [2**((i-1)/32), 2**(i/32)) ns)
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.max = 0.0
        self._log2 = math.log2

    def add(self, seconds: float) -> None:
        ns = seconds * 1e9
        idx = int(self._log2(ns) * _PER_OCTAVE) + 1 if ns >= 1.0 else 0
        if idx > _NBUCKETS:
            idx = _NBUCKETS
        counts = self.counts
        counts[idx] = counts.get(idx, 0) + 1
        self.n += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: Histogram) -> None:
        """Add *other*'s values to this histogram."""
        for idx, c in other.counts.items():
            self.counts[idx] = self.counts.get(idx, 0) + c
        self.n += other.n
        self.total += other.total
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float:
        """Return the *q*-quantile (0…1) in seconds, to bucket resolution; 0.0 when empty."""
        if self.n == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for idx in sorted(self.counts):
            seen += self.counts[idx]
            if seen >= rank:
                if idx == 0:
                    return 0.0
                # geometric middle of the bucket, capped by the exact maximum
                return min(2 ** ((idx - 0.5) / _PER_OCTAVE) * 1e-9, self.max)
        return self.max

    def count_at_least(self, seconds: float) -> int:
        """How many values were at least *seconds*, to bucket resolution: the whole bucket holding
        *seconds* counts, so this may include values up to ~2 % below it (never fewer than are)."""
        ns = seconds * 1e9
        if ns < 1.0:
            return self.n
        first = min(int(math.log2(ns) * _PER_OCTAVE) + 1, _NBUCKETS)
        return sum(c for idx, c in self.counts.items() if idx >= first)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0


class JobStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one job's statistics; times in seconds."""

    name: str
    runs: int
    ok: int
    failed: int
    skipped: int
    cancelled: int
    running: int
    lateness_p50: float
    lateness_p99: float
    lateness_max: float
    lateness_mean: float
    duration_p50: float
    duration_p99: float
    duration_max: float
    #: runs stopped by the job's timeout (also counted in ``failed``)
    timed_out: int = 0


class JobCounters:
    """The mutable counters the engine updates on the hot path."""

    __slots__ = ("cancelled", "duration", "failed", "lateness", "ok", "runs", "skipped", "timed_out")

    def __init__(self) -> None:
        self.runs = 0
        self.ok = 0
        self.failed = 0
        self.skipped = 0
        self.cancelled = 0
        self.timed_out = 0
        self.lateness = Histogram()
        self.duration = Histogram()

    def snapshot(self, name: str, running: int) -> JobStats:
        la, du = self.lateness, self.duration
        return JobStats(
            name=name,
            runs=self.runs,
            ok=self.ok,
            failed=self.failed,
            skipped=self.skipped,
            cancelled=self.cancelled,
            running=running,
            lateness_p50=la.quantile(0.5),
            lateness_p99=la.quantile(0.99),
            lateness_max=la.max,
            lateness_mean=la.mean,
            duration_p50=du.quantile(0.5),
            duration_p99=du.quantile(0.99),
            duration_max=du.max,
            timed_out=self.timed_out,
        )
