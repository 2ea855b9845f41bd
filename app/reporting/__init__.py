"""The reporting cycle: what each department must report, by when, and who accepted it.

- An *assignment* says that a department reports an indicator, from a year on (to a year, or open).
- A *period* is the stretch of days (`opens` to `closes`, in INDICATORS_TIMEZONE) in which clerks
  enter a year's figures; an *exception* lets one department's clerks enter them until a later day.
- An *approval* is one department's figures of one year moving draft -> submitted -> approved (and
  back, by return or reopen, with a reason); submitted figures are locked for clerks, approved ones
  for everybody.

It sits below the writes (app.observations, app.transfer), which ask app.reporting.locks before
writing; completeness, a read-only view, is in app.analytics.
"""
