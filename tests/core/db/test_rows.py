"""DriverQuery: a statement run straight on the driver gives what SQLAlchemy's execution gives."""

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, bindparam, event, literal, select, text, update
from sqlalchemy.orm import Session

from app.core.db import retry
from app.core.db import session as database
from app.core.db.engine import make_engine
from app.core.db.rows import DriverQuery
from app.observations.models import Observation, ObservationRevision, Qualifier

_O = Observation.__table__.c
_R = ObservationRevision.__table__.c

# Every kind of column a read takes: text, integers, an exact decimal (text on SQLite), an enum, an
# aware time, NULLs among them; and a literal of the statement's own beside the parameters.
_FIGURES = select(
    _O.id, _O.year, _O.value, _O.qualifier, _O.note, _O.updated_at, _O.updated_by, literal(7).label("seven")
).where(_O.year == bindparam("year"), _O.version >= literal(1))
_REVISIONS = select(_R.value_before, _R.qualifier_before, _R.changed_at).where(_R.year == bindparam("year"))


@pytest.mark.parametrize("statement", [_FIGURES, _REVISIONS, _FIGURES.where(_O.year == -1)])
def test_rows_are_what_sqlalchemy_gives(session: Session, statement: Any) -> None:
    expected = [tuple(row) for row in session.execute(statement, {"year": 2021})]
    got = [tuple(row) for row in DriverQuery(statement).rows(session, {"year": 2021})]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    if statement is _FIGURES:
        assert len(got) > 10
        assert all(isinstance(row[2], Decimal) and isinstance(row[3], Qualifier) for row in got)
        assert all(row[5].utcoffset() is not None and row[7] == 7 for row in got)
        assert any(row[2] == 1007 for row in got)
    if statement is _REVISIONS:
        assert any(row[0] is None and row[1] is None for row in got)  # a creation: nothing before


def test_parameters_are_converted_as_sqlalchemy_converts_them(session: Session) -> None:
    """An exact decimal (text on SQLite), an enum member and an aware time as parameters."""
    query = select(_O.id, _O.value).where(
        _O.value == bindparam("value", type_=_O.value.type),
        _O.qualifier == bindparam("qualifier", type_=_O.qualifier.type),
        _O.updated_at < bindparam("before", type_=_O.updated_at.type),
    )
    east = dt.timezone(dt.timedelta(hours=8))
    params = {
        "value": Decimal(1007),
        "qualifier": Qualifier.exact,
        "before": dt.datetime(2100, 1, 1, tzinfo=east),
    }
    expected = [tuple(row) for row in session.execute(query, params)]
    assert [tuple(row) for row in DriverQuery(query).rows(session, params)] == expected
    assert len(expected) == 1 and expected[0][1] == 1007


def test_a_change_is_stored_as_sqlalchemy_stores_it(session: Session) -> None:
    """DriverQuery.execute: an UPDATE whose values need converting, read back by SQLAlchemy."""
    target = session.execute(select(_O.id).order_by(_O.id).limit(1)).scalar_one()
    change = (
        update(Observation)
        .where(_O.id == bindparam("target"))
        .values(
            value=bindparam("value", type_=_O.value.type),
            qualifier=bindparam("qualifier", type_=_O.qualifier.type),
            updated_at=bindparam("at", type_=_O.updated_at.type),
        )
    )
    at = dt.datetime(2026, 12, 6, 20, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    DriverQuery(change).execute(
        session.connection(),
        {"target": target, "value": Decimal("1234.500001"), "qualifier": Qualifier.at_least, "at": at},
    )
    stored = session.execute(select(_O.value, _O.qualifier, _O.updated_at).where(_O.id == target)).one()
    assert stored == (Decimal("1234.500001"), Qualifier.at_least, at)
    assert stored.updated_at.utcoffset() == dt.timedelta(0)  # kept in UTC, as UTCDateTime keeps times


def test_the_engines_listeners_see_the_statement(engine: Engine, session: Session) -> None:
    sent: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        DriverQuery(_FIGURES).rows(session, {"year": 2020})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    sent = [(sql, params) for sql, params in sent if not sql.startswith("SAVEPOINT")]  # the test's session
    assert len(sent) == 1 and "FROM observation" in sent[0][0]
    assert 2020 in (sent[0][1].values() if isinstance(sent[0][1], dict) else sent[0][1])


def test_a_connection_found_broken_is_invalidated(engine: Engine) -> None:
    """The server closes the connection under the statement: the driver's error is one the retry
    runs again, and the pool does not hand that connection out again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: a server that closes the connection")
    with Session(engine) as session:
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(psycopg.OperationalError) as failed:
            DriverQuery(_FIGURES).rows(session, {"year": 2021})
        assert retry.classify(failed.value) == "retry"
        assert session.connection().invalidated
    with Session(engine) as session:  # the next unit of work gets a working connection
        assert DriverQuery(_FIGURES).rows(session, {"year": 2021})


def _alone(engine: Engine) -> database.UnitOfWork:
    """A request's session that sends its statements alone, as get_session makes a read's
    (one_statement)."""
    alone = database._alone(engine)
    session = database.sessionmaker_for(engine)(bind=alone)
    session.alone = alone
    return session


def _outside_a_transaction(driver: Any) -> bool:
    if isinstance(driver, psycopg.Connection):
        return driver.autocommit
    return not driver.in_transaction


def test_a_statement_sent_alone_runs_on_a_lent_connection_given_back_as_it_was(engine: Engine) -> None:
    """A session that sends its statements alone has its DriverQuery run on a connection the pool
    lends for that statement, outside a transaction (autocommit on PostgreSQL): the same rows, seen
    by the listeners, the Session never begun, and the connection back in the pool as it was, its
    next statements in a transaction (out of autocommit on PostgreSQL)."""
    single = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    seen: list[bool] = []
    event.listen(
        single,
        "before_cursor_execute",
        lambda c, *_: seen.append(_outside_a_transaction(c.connection.driver_connection)),
    )
    try:
        with Session(single) as session:
            expected = [tuple(row) for row in session.execute(_FIGURES, {"year": 2021})]
        seen.clear()
        session = _alone(single)
        got = [tuple(row) for row in DriverQuery(_FIGURES).rows(session, {"year": 2021})]
        assert sorted(got, key=repr) == sorted(expected, key=repr) and got
        assert seen == [True]
        assert not session.in_transaction()
        session.close()
        with single.connect() as connection:  # the pool's one connection, as it was lent
            connection.execute(text("CREATE TEMPORARY TABLE t (x int)"))
            assert not _outside_a_transaction(connection.connection.driver_connection)
            connection.rollback()  # a transaction still: nothing of it stays
            if single.dialect.name == "postgresql":
                assert connection.execute(text("SELECT to_regclass('pg_temp.t')")).scalar() is None
            else:
                assert connection.execute(text("SELECT name FROM sqlite_temp_master")).all() == []
    finally:
        single.dispose()


def test_a_lent_connection_found_broken_is_invalidated(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: statements sent alone")
    single = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        with single.connect() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(psycopg.OperationalError) as failed:
            DriverQuery(_FIGURES).rows(_alone(single), {"year": 2021})
        assert retry.classify(failed.value) == "retry"
        assert DriverQuery(_FIGURES).rows(_alone(single), {"year": 2021})  # a new connection
        with single.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        single.dispose()
