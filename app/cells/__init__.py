"""Cells: what figures and targets share.

A *cell* is one indicator, one department, one year: the place one figure (an observation) or one
target sits. Both kinds are versioned the same way: a table of current rows, and a table of revisions
that keeps every create, change and deletion with who made it and when. Here are the cell's key and
filters (`key`), its versioned store (`store`), the tables' shared columns (`tables`) and what both
routers share over HTTP: paths, their resolution for a write, preconditions (`http`).
"""
