"""The indicator service: performance indicators, their figures and targets, over HTTP."""
