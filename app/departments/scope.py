"""What a principal may write: a clerk their department and the departments below it, the commission
and admin everything."""

from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.principal import Principal
from app.core.problems import Forbidden
from app.departments.service import is_within, subtree_ids


def writable_departments(session: Session, actor: Principal) -> set[int] | None:
    """The department ids the actor may write observations for; None means all of them."""
    if actor.has(Role.commission):
        return None
    if actor.role is Role.clerk and actor.department_id is not None:
        return subtree_ids(session, actor.department_id)
    return set()


def may_write(session: Session, actor: Principal, department_id: int) -> bool:
    """Whether the actor may write observations of this department (one short query for a clerk)."""
    if actor.has(Role.commission):
        return True
    if actor.role is Role.clerk and actor.department_id is not None:
        return is_within(session, department_id, actor.department_id)
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
