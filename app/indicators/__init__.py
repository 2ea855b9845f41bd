"""Indicators: what is measured, its value type, which way is better, how departments roll up."""
