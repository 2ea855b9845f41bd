"""Compliance: every target of a year against the figure of the same cell (`report`), from the
queries that let the database decide each status (`queries`), as items and pages (`items`)."""
