"""Who is asking, and what they may touch. Every write carries a Principal as its actor."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.auth.models import Role
from app.departments import service as departments
from app.problems import Forbidden


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


def writable_departments(session: Session, actor: Principal) -> set[int] | None:
    """The department ids the actor may write observations for; None means all of them."""
    if actor.has(Role.commission):
        return None
    if actor.role is Role.clerk and actor.department_id is not None:
        return departments.subtree_ids(session, actor.department_id)
    return set()


def may_write(session: Session, actor: Principal, department_id: int) -> bool:
    """Whether the actor may write observations of this department (one short query for a clerk)."""
    if actor.has(Role.commission):
        return True
    if actor.role is Role.clerk and actor.department_id is not None:
        return departments.is_within(session, department_id, actor.department_id)
    return False


def out_of_scope(actor: Principal, code: str) -> Forbidden:
    scope = actor.department_code or "no department"
    return Forbidden(
        f"Token {actor.name!r} ({actor.role}) may write only for {scope} and the departments "
        f"below it, not for {code!r}"
    )


def check_department(session: Session, actor: Principal, department_id: int, code: str) -> None:
    if not may_write(session, actor, department_id):
        raise out_of_scope(actor, code)
