"""Batches in and files out: many observations at once, as JSON, CSV or a workbook.

`formats` reads a body or a file into rows, `checks` checks each row, `bulk` writes the valid ones
the fastest way each database offers, `batch` runs the three, `importer` streams a file from disk
(`indicators import`), `export` writes observations as CSV and workbooks, `templates` makes the
fill-in workbooks, and `router` serves them over HTTP.
"""
