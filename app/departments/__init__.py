"""Departments: the tree of offices that report figures (`service`), and what a clerk of one may
write (`scope`: their department and every department below it)."""
