"""How a batch meets the cells it names, for imports that say so (DHIS2's `importStrategy`).

Observation batches create and update (`UPSERT`, the batch's own fast path). An import may instead
only create (rows for existing cells are ignored), only update (rows for new cells are ignored), or
delete the cells it names; and a format that carries less than a figure (no qualifier, no source)
passes `merge`, which makes an existing cell's new contents out of what is stored and what it sends.
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
    # (stored row, checked row) -> the cell as the import means it: its (*payload, note, source).
    # A row that sends what is stored leaves the cell unchanged, whatever the merge keeps.
    merge: Callable[[bulk.Current, Valid], tuple[Any, ...]] | None = None


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
    """Classify rows against the stored cells (`current`, and the `last` version of deleted ones).
    The loops are the batch's own (app.transfer.batch): this runs once per row of an import."""
    if strategy.delete:
        out = Plan([], {}, [], [], [])
        for row in valid:
            now = current.get(row[0])
            if now is None:
                out.ignored += 1  # nothing to delete
            else:
                out.deleted.append((*now, *row[2:5]))
        return out
    if strategy.create and not current and not last:
        return Plan(valid, {}, [], [], [])  # cells never written before: the usual import of a new year
    new: builtins.list[Valid] = []
    versions: dict[int, int] = {}
    changed: builtins.list[bulk.ChangedRow] = []
    revisions: builtins.list[bulk.RevisionRow] = []
    unchanged = ignored = 0
    create, update, merge = strategy.create, strategy.update, strategy.merge
    payload_end = 3 + table.width
    for row in valid:
        key = row[0]
        now = current.get(key)
        if now is None:
            if not create:
                ignored += 1
                continue
            new.append(row)
            if key in last:
                versions[key] = last[key] + 1
            continue
        if not update:
            ignored += 1
            continue
        stored, tail = now[3:], row[5:]
        if stored == tail:
            unchanged += 1  # what is stored sent back, whatever a merge keeps
            continue
        if merge is not None:
            tail = merge(now, row)
            if stored == tail:
                unchanged += 1
                continue
        version = now[2] + 1
        changed.append((now[1], version, *tail))
        revisions.append((*row[2:5], version, "update", *now[3:payload_end], *tail))
    return Plan(new, versions, changed, revisions, [], unchanged, ignored)


def unchanged(
    conn: Connection, strategy: Strategy, rows: builtins.list[Valid], table: bulk.CellTable
) -> set[int]:
    """The keys of rows that would leave their stored cell as it is: a locked department-year refuses
    changes, and an import that changes nothing there is no conflict (an export sent back)."""
    merge = strategy.merge
    if strategy.delete or merge is None or not strategy.update:
        return set()
    current, _ = bulk.lookup(conn, [row[0] for row in rows], table)
    same = set()
    for row in rows:
        now = current.get(row[0])
        if now is not None and (now[3:] == row[5:] or now[3:] == merge(now, row)):
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
