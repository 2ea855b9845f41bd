"""Targets: what a cell's figure must reach, set by the commission and versioned like figures; and
whether figures meet them (`compliance`)."""
