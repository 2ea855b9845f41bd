"""Data quality: validation rules and outliers.

- A **rule** (validation rule, as in DHIS2) compares two formulas over one department's figures of one
  year (`#{expert-hazards-rectified} <= #{expert-hazards-found}`), with an importance and a strategy for
  missing figures.
- A **breach** is a rule a department-year breaks: `violated`, or `indeterminate` when the figures'
  qualifiers leave it open (`at_least 70` may or may not be above 75), as compliance is.
- An **outlier** is a figure far from the same department's other years of the same indicator
  (modified z-score, z-score), or outside the indicator's `expected_min`/`expected_max` (min-max).

The package lies below reporting (whose submission refuses a department-year with a broken `high`
rule) and above cells: it reads figures through the observation table's name, as reporting does, so
that the observation writes above it can ask it for their warnings directly.
"""
