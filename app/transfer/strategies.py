"""How a batch meets the cells it names, for imports that say so (DHIS2's `importStrategy`).

Observation batches create and update (`UPSERT`, the batch's own fast path). An import may instead
only create (rows for existing cells are ignored), only update (rows for new cells are ignored), or
delete the cells it names; and a format that carries less than a figure (no qualifier, no source)
passes `merge`, which makes a row for an existing cell out of what is stored and what it sends.
A deletion leaves a revision (action `delete`) as a one-cell DELETE does: nothing is ever lost.
"""

import builtins
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert

from app.transfer import bulk
from app.transfer.checks import Valid

DELETE_CHUNK = 10_000  # ids per DELETE statement: well under both databases' parameter limits


@dataclass(frozen=True)
class Strategy:
    create: bool = True
    update: bool = True
    delete: bool = False
    # (stored row, checked row) -> the row as the import means it for that existing cell
    merge: Callable[[bulk.Current, Valid], Valid] | None = None


UPSERT = Strategy()


@dataclass
class Plan:
    """What a chunk of checked rows does to the cells: the bulk writer's arguments, and the counts."""

    new: builtins.list[Valid]
    versions: dict[int, int]
    changed: builtins.list[bulk.ChangedRow]
    revisions: builtins.list[bulk.RevisionRow]
    deleted: builtins.list[bulk.Current]
    unchanged: int = 0
    ignored: int = 0


def plan(
    strategy: Strategy,
    valid: builtins.list[Valid],
    current: dict[int, bulk.Current],
    last: dict[int, int],
    table: bulk.CellTable,
) -> Plan:
    """Classify rows against the stored cells (`current`, and the `last` version of deleted ones)."""
    out = Plan([], {}, [], [], [])
    payload_end = 3 + table.width
    merge = strategy.merge
    for row in valid:
        key = row[0]
        now = current.get(key)
        if strategy.delete:
            if now is None:
                out.ignored += 1  # nothing to delete
            else:
                out.deleted.append((*now, *row[2:5]))
            continue
        if now is None:
            if not strategy.create:
                out.ignored += 1
                continue
            out.new.append(row)
            if key in last:
                out.versions[key] = last[key] + 1
            continue
        if not strategy.update:
            out.ignored += 1
            continue
        if merge is not None:
            row = merge(now, row)
        if now[3:] == row[5:]:
            out.unchanged += 1
            continue
        version = now[2] + 1
        out.changed.append((now[1], version, *row[5:]))
        out.revisions.append((*row[2:5], version, "update", *now[3:payload_end], *row[5:]))
    return out


def unchanged(
    conn: Connection, strategy: Strategy, rows: builtins.list[Valid], table: bulk.CellTable
) -> set[int]:
    """The keys of rows that would leave their stored cell as it is: a locked department-year refuses
    changes, and an import that changes nothing there is no conflict (an export sent back)."""
    if strategy.delete or strategy.merge is None or not strategy.update:
        return set()
    current, _ = bulk.lookup(conn, [row[0] for row in rows], table)
    same = set()
    for row in rows:
        now = current.get(row[0])
        if now is not None and now[3:] == strategy.merge(now, row)[5:]:
            same.add(row[0])
    return same


def delete_cells(
    conn: Connection, deleted: builtins.list[Any], *, at: dt.datetime, by: str, table: bulk.CellTable
) -> None:
    """Remove cells, each leaving its deletion as a version. `deleted` holds the stored rows
    (key, id, version, *payload, note, source) followed by (indicator_id, department_id, year)."""
    if not deleted:
        return
    width = table.width
    revisions = []
    for stored in deleted:
        payload = stored[3 : 3 + width]
        note, source = stored[3 + width], stored[4 + width]
        indicator_id, department_id, year = stored[-3:]
        revision: dict[str, Any] = {
            "indicator_id": indicator_id,
            "department_id": department_id,
            "year": year,
            "version": stored[2] + 1,
            "action": "delete",
            "note": note,
            "source": source,
            "changed_at": at,
            "changed_by": by,
            "reason": None,
        }
        for column, value in zip(table.payload, payload, strict=True):
            revision[f"{column}_before"] = value
            revision[f"{column}_after"] = None
        revisions.append(revision)
    conn.execute(insert(table.revision.__table__), revisions)
    current = table.current.__table__
    ids = [stored[1] for stored in deleted]
    for start in range(0, len(ids), DELETE_CHUNK):
        conn.execute(delete(current).where(current.c.id.in_(ids[start : start + DELETE_CHUNK])))
