"""Who is asking, and what they may touch. Every write carries a Principal as its actor."""

from dataclasses import dataclass

from app.auth.models import Role


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    department_id: int | None = None
    department_code: str | None = None

    def has(self, role: Role) -> bool:
        return self.role.level >= role.level


ANONYMOUS = Principal(name="anonymous", role=Role.viewer)
# Writes made by the service itself (the seed, restores) are attributed to this actor.
SYSTEM = Principal(name="system", role=Role.admin)
