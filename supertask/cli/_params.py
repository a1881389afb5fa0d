"""Parameter types the commands share (cyclopts would round ``--count 2.5`` to 2)."""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import Parameter

__all__ = ["OptionalWholeNumber", "WholeNumber"]


def _whole_number(type_: Any, tokens: Any) -> int:
    text = str(tokens[0].value)
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


WholeNumber = Annotated[int, Parameter(converter=_whole_number)]
OptionalWholeNumber = Annotated[int | None, Parameter(converter=_whole_number)]
