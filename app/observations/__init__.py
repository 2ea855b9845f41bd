"""Observations: one figure of one indicator, one department, one year at a time; every change is
kept as a version. Many at once are in app.transfer."""
