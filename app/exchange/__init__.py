"""Exchange formats: the figures as other systems read and write them.

- SDMX (Statistical Data and Metadata eXchange): the figures as SDMX-CSV 2.0 data, and the data
  structure and dataflow they follow as an SDMX-ML 3.0 structure message (app.exchange.sdmx).
- DHIS2 data value sets: a *data element* is an indicator (by its code), an *organisation unit* a
  department, a *period* a year; out as JSON or CSV, and in through the observation batch pipeline
  (app.exchange.dhis2_import), answered with DHIS2's import summary.

Figures are read through app.observations.service, as `GET /api/v1/observations` reads them.
"""
