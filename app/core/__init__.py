"""The shared floor: configuration, problems, JSON, the route class, HTTP helpers, common fields,
pages, decimals, limits, serving and health, and the database (`db`). It imports nothing else from
app."""
