"""Sinks: where results and output of runs go (stdout today; files, MQTT and the store build on the same base)."""

from __future__ import annotations

from .base import Sink as Sink
from .stdout import StdoutSink as StdoutSink

__all__ = ["Sink", "StdoutSink"]
