"""The database: the engine (`engine`), a request's unit of work (`session`), how many requests work
with it at once (`gate`), what is run again when it refuses for a passing reason (`retry`), column
types (`types`) and migrations (`migrate`)."""
