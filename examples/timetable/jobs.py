"""Functions the example timetable calls (``jobs.py:report``, ``jobs.py:load``)."""


def report(items: list[int]) -> str:
    return f"report: {len(items)} items, total {sum(items)}"


def load(what: str) -> str:
    return f"loaded {what}"
