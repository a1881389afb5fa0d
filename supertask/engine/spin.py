"""How long the engine busy-waits before a deadline: a fixed spin, or an automatic one that learns the wake-up delay.

A timer wake-up through the trio loop arrives some tens of µs after the timer
fired, more on a busy or virtualised machine. The final spin covers that
delay: the engine asks the timer for ``deadline − spin`` and busy-waits the
rest. A spin longer than the delay burns CPU; a shorter one makes the tick late.

The automatic spin starts at a cap derived from the period (:func:`auto_spin`)
and then sizes itself from the delays it has seen (:class:`SpinTuner`): a high
quantile of the recent wake-up delays plus a margin, never above the cap.
"""

from __future__ import annotations

from array import array

from ..triggers import IntervalTrigger, Trigger

__all__ = ["SPIN_CAP", "SPIN_WHOLE_PERIOD", "SpinTuner", "auto_spin"]

#: longest automatic final spin before a deadline
SPIN_CAP = 300e-6
#: periods up to this are busy-waited whole: a timer wake-up costs more than it saves
SPIN_WHOLE_PERIOD = 500e-6


def auto_spin(trigger: Trigger) -> float:
    """The cap of the automatic final spin for a trigger: the whole period below 0.5 ms, else 15 % of
    the period up to 300 µs for intervals up to 10 s, and none for longer or calendar triggers."""
    if isinstance(trigger, IntervalTrigger):
        p = trigger.period
        if p <= SPIN_WHOLE_PERIOD:
            return p
        if p <= 10.0:
            return min(0.15 * p, SPIN_CAP)
    return 0.0


class SpinTuner:
    """Sizes a job's automatic spin from the wake-up delays observed for it.

    Keeps the last :attr:`SAMPLES` delays; after :attr:`FIRST` observations and
    then every :attr:`EVERY` the spin becomes their :attr:`QUANTILE` plus
    :attr:`MARGIN`, clamped to ``[FLOOR, cap]``. Until then the spin is the cap.

    Delays come in bursts (a noisy neighbour, a busy host): a wake-up later than
    the spin but within the cap raises the spin to the cap at once and holds it
    there for :attr:`EVERY` observations (fast attack, slow release). Delays
    beyond the cap (a stalled VM) cannot be covered by spinning and change nothing
    but the statistics.
    """

    SAMPLES = 512
    EVERY = 128
    FIRST = 64
    QUANTILE = 0.995
    MARGIN = 15e-6
    FLOOR = 25e-6

    __slots__ = ("_held", "_n", "_ring", "_tuned", "cap", "spin")

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.spin = cap
        self._tuned = cap
        self._held = 0
        self._ring: array[float] | None = None  # made at the first observation (a job may never run)
        self._n = 0

    def observe(self, delay: float) -> None:
        """Record that a wake-up came *delay* seconds after the timer was due."""
        ring = self._ring
        if ring is None:
            ring = self._ring = array("d", bytes(8 * self.SAMPLES))  # flat: 4 KiB, not 512 float objects
        n = self._n
        ring[n % self.SAMPLES] = delay
        n += 1
        self._n = n
        if self.spin < delay <= self.cap:
            self.spin = self.cap  # late: cover the burst first, size down later
            self._held = self.EVERY
        elif self._held:
            self._held -= 1
            if not self._held:
                self.spin = self._tuned
        if n % self.EVERY == 0 or n == self.FIRST:
            known = sorted(ring[: min(n, self.SAMPLES)])
            q = known[min(len(known) - 1, int(self.QUANTILE * len(known)))]
            self._tuned = min(self.cap, max(self.FLOOR, q + self.MARGIN))
            if not self._held:
                self.spin = self._tuned
