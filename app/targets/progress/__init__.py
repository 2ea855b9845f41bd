"""Progress toward targets: how fast a cell's figures move toward its target, Open SDG's way.

Words: the *base* figure is the first figure from the base year on (by default the earliest figure);
the *latest* figure is the last one up to the target's year; the *aim* is the number the target asks
the figures to reach. app.targets.progress.method holds the arithmetic, .queries the SQL, .report
the pages, .router the HTTP.
"""
