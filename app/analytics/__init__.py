"""Analytics: series over years and comparisons between departments, read-only, rolled up through
the department tree on request."""
