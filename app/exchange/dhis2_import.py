"""A DHIS2 data value set imported through the observation batch pipeline, answered with DHIS2's
import summary.

The batch (app.transfer.batch) checks every value, the actor's department scope and the reporting
locks, writes in bulk and keeps a revision of each change, atomically unless `atomicMode=NONE`.
What DHIS2 does not carry is kept: an existing figure's source always, and its qualifier while its
value is unchanged (so an export imported back is all `ignored`); a new or changed value is `exact`.
"""

from typing import Any

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.core.config import Settings
from app.core.problems import Forbidden, InvalidValue
from app.exchange import dhis2
from app.exchange.schemas import ImportStrategy
from app.observations.models import Qualifier
from app.transfer import batch, bulk
from app.transfer.checks import Valid
from app.transfer.formats import MISSING, sniff
from app.transfer.strategies import Strategy

PROPERTIES = {
    "indicator": "dataElement",
    "department": "orgUnit",
    "year": "period",
    "period": "period",
    "value": "value",
    "note": "comment",
}
_RAW_AT = {"dataElement": 0, "period": 1, "orgUnit": 2, "value": 3, "comment": 4}


def keep_what_dhis2_lacks(now: bulk.Current, row: Valid) -> Valid:
    """A row for a stored figure: (key, row, i, d, y, value, qualifier, note, source) from the stored
    (key, id, version, value, qualifier, note, source)."""
    qualifier = now[4] if row[5] == now[3] else Qualifier.exact.value
    return (*row[:6], qualifier, row[7], now[6])


STRATEGIES = {
    ImportStrategy.CREATE_AND_UPDATE: Strategy(merge=keep_what_dhis2_lacks),
    ImportStrategy.CREATE: Strategy(update=False, merge=keep_what_dhis2_lacks),
    ImportStrategy.UPDATE: Strategy(create=False, merge=keep_what_dhis2_lacks),
    ImportStrategy.DELETE: Strategy(create=False, update=False, delete=True),
}


def _as_text(raw: Any) -> str | None:
    if raw is None or raw is MISSING:
        return None
    return str(raw)


def conflicts(errors: list[dict[str, Any]], raws: list[dhis2.Raw]) -> list[dict[str, Any]]:
    """The batch's row errors as DHIS2's conflicts: one per (object, property, message), with the
    indexes (from 0) of every data value it concerns."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for error in errors:
        index = error["row"] - 1
        loc = error["loc"]
        prop = PROPERTIES.get(loc[0]) if loc else None
        raw = raws[index] if 0 <= index < len(raws) else None
        if prop is not None and raw is not None:
            obj = _as_text(raw[_RAW_AT[prop]])
        elif raw is not None:
            obj = "/".join(str(raw[at]) for at in (0, 2, 1))
        else:
            obj = None
        key = (obj, prop, error["msg"], error["type"])
        conflict = merged.get(key)
        if conflict is None:
            merged[key] = {
                "object": obj,
                "value": error["msg"],
                "property": prop,
                "errorCode": error["type"],
                "indexes": [index],
            }
        else:
            conflict["indexes"].append(index)
    return list(merged.values())


def summary(
    counts: dict[str, Any],
    raws: list[dhis2.Raw],
    *,
    failed: bool,
    options: dict[str, object],
    ignored: int,
    deleted: int,
) -> dict[str, Any]:
    found = conflicts(counts["errors"], raws)
    rejected = counts["rejected"]
    if failed:
        status, description = "ERROR", "Import failed: nothing was written (the import is atomic)"
    elif found:
        status, description = "WARNING", f"Import done; {rejected} data value(s) rejected"
    else:
        status, description = "SUCCESS", "Import done"
    if counts["dry_run"]:
        description += " (dry run: nothing was written)"
    return {
        "responseType": "ImportSummary",
        "status": status,
        "description": description,
        "importOptions": options,
        "importCount": {
            "imported": counts["created"],
            "updated": counts["updated"],
            # Failed: every data value was left as it was.
            "ignored": len(raws) if failed else ignored + rejected + counts["unchanged"] + counts["skipped"],
            "deleted": deleted,
        },
        "conflicts": found,
        "conflictCount": counts["error_count"],
    }


def run(
    session: Session,
    *,
    kind: str,
    body: bytes,
    actor: Principal,
    settings: Settings,
    dry_run: bool,
    atomic: bool,
    strategy: ImportStrategy,
) -> dict[str, Any]:
    """Import the body (`kind` json or csv); the summary, or a problem (422 atomic with conflicts, 403 a
    department out of scope) whose extension members are the summary."""
    sniff("json" if kind == "json" else "csv", body[:16])  # JSON sent as CSV, a workbook: 415
    raws = dhis2.read_json(body) if kind == "json" else dhis2.read_csv(body)
    options: dict[str, object] = {
        "dryRun": dry_run,
        "importStrategy": strategy.value,
        "atomicMode": "ALL" if atomic else "NONE",
        "idScheme": "CODE",
    }
    try:
        result = batch.run(
            session,
            rows=dhis2.rows(raws, deleting=strategy is ImportStrategy.DELETE),
            actor=actor,
            dry_run=dry_run,
            atomic=atomic,
            strict=False,
            max_rows=settings.max_batch_rows,
            last_year=settings.last_open_year(),
            strategy=STRATEGIES[strategy],
        )
    except (Forbidden, InvalidValue) as exc:
        if "errors" not in exc.extra:
            raise
        # The summary under `response`, as DHIS2's own error answers carry it: the problem's `status`
        # stays the HTTP status.
        answer = summary(exc.extra, raws, failed=True, options=options, ignored=0, deleted=0)
        raise type(exc)(exc.detail, extra={"response": answer}) from None
    return summary(
        result.body(), raws, failed=False, options=options, ignored=result.ignored, deleted=result.deleted
    )
