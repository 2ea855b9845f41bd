"""The audit log: who did which administrative action, when, from which address.

An *event* names what it acted on as text (`target`), so it outlives the thing: a deleted indicator's
events stay readable. Events are written in the transaction of the action they record (a refused
action records nothing) and never on the figure-write path, which is not administrative.
"""
