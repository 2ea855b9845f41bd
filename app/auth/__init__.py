"""Who is asking: bearer tokens (`tokens`), the principal each request carries (`principal`), and the
dependencies routes declare the role they need with (`dependencies`)."""
