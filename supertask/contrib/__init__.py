"""Small helpers that the original Supertask's example timetables name, so they run unchanged."""
