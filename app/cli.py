"""The `indicators` command: migrate, seed, serve, and manage tokens."""

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

import app.models  # noqa: F401  (every table known: a token's row names a department by foreign key)
from app.audit import service as audit
from app.audit.models import AuditAction
from app.auth import tokens
from app.auth.models import Role
from app.auth.principal import Principal
from app.auth.schemas import TokenCreate
from app.core import server
from app.core.config import get_settings
from app.core.db import migrate
from app.core.db.engine import get_engine
from app.core.db.session import begin_for_write
from app.core.json import dumps
from app.core.problems import Problem

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_cli = typer.Typer(no_args_is_help=True, help="The database schema.")
token_cli = typer.Typer(no_args_is_help=True, help="Bearer tokens: create, list and revoke.")
cli.add_typer(db_cli, name="db")
cli.add_typer(token_cli, name="token")


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (alembic upgrade head)."""
    migrate.upgrade(get_engine())
    typer.echo("database is at the latest schema", err=True)


@cli.command()
def seed() -> None:
    """Load the 2021 report; running it twice changes nothing."""
    from seed.loader import load

    with _session() as session, session.begin():
        counts = load(session)
    typer.echo(f"seed: {counts}", err=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Migrate, then serve the API. A port in use is one line on stderr, and exit status 1."""
    refused = server.unavailable(host, port)
    if refused is not None:
        _fail(refused)
    migrate.upgrade(get_engine())
    with _session() as session, session.begin():
        secret = tokens.ensure_admin(session)
    if secret is not None:
        banner = "=" * 72
        typer.echo(
            f"{banner}\nNo admin token existed, so one was made. It is shown this once only:\n\n"
            f"    {secret}\n\nUse it as 'Authorization: Bearer <token>'; keep it safe.\n{banner}",
            err=True,
        )
    get_engine().dispose()
    server.run("app.main:serving_app", host=host, port=port, **server_options(workers))


def server_options(workers: int) -> dict[str, Any]:
    """uvicorn's options for `serve` (app.core.server.run); bench/ runs its bare-ASGI ceiling with the very
    same ones. asyncio's event loop rather than uvloop: a busy worker answers its connections evenly
    (BENCHMARKS.md)."""
    settings = get_settings()
    return {
        "workers": workers,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "loop": "asyncio",
        "pin_workers": settings.pin_workers,
    }


@token_cli.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who the token is for; recorded on writes")],
    role: Annotated[Role, typer.Option("--role", help="viewer, clerk, commission or admin")],
    department: Annotated[
        str | None, typer.Option("--department", help="The clerk's department code")
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="How long it lasts: 30m, 12h, 90d (default: it never expires)"),
    ] = None,
) -> None:
    """Print a new token alone on stdout; only its hash is stored."""
    if expires_in is not None:
        try:
            tokens.duration(expires_in)
        except ValueError as exc:
            typer.echo(f"error: --expires-in: {exc}", err=True)
            raise typer.Exit(2) from None
    try:
        data = TokenCreate(name=name, role=role, department=department, expires_in=expires_in)
    except ValueError as exc:
        _fail(str(exc))
    try:
        with _session() as session, session.begin():
            _, secret = tokens.create(session, data=data, actor="cli")
            audit.record(session, actor="cli", action=AuditAction.token_create, target=name, detail=data)
    except Problem as exc:
        _fail(exc.detail)
    sys.stdout.write(secret + "\n")


TOKEN_COLUMNS = ("name", "role", "department", "created", "expires", "last used", "revoked")


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%MZ")


@token_cli.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array instead of a table")] = False,
) -> None:
    """Every token, revoked ones too, by name: never its secret nor its hash. Times in UTC; "last
    used" is recorded to the hour."""
    with _session() as session:
        listed = tokens.list(session, include_revoked=True)
    if as_json:
        sys.stdout.buffer.write(dumps([token.model_dump(mode="json") for token in listed]) + b"\n")
        return
    rows = [TOKEN_COLUMNS] + [
        (
            token.name,
            token.role.value,
            token.department or "-",
            _when(token.created_at),
            _when(token.expires_at),
            _when(token.last_used_at),
            _when(token.revoked_at),
        )
        for token in listed
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TOKEN_COLUMNS))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@token_cli.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name")]) -> None:
    """Revoke a token: its next request gets 401."""
    try:
        with _session() as session, session.begin():
            tokens.revoke(session, name=name)
            audit.record(session, actor="cli", action=AuditAction.token_revoke, target=name)
    except Problem as exc:
        _fail(exc.detail)
    typer.echo(f"token {name!r} revoked", err=True)


@cli.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv, .xlsx or .json batch")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count everything, write nothing")
    ] = False,
    atomic: Annotated[
        bool, typer.Option("--atomic/--no-atomic", help="One bad row and nothing is written (default)")
    ] = True,
    actor: Annotated[str, typer.Option("--as", help="The name recorded as updated_by")] = "cli",
) -> None:
    """Import observations as POST /api/v1/observations does, straight into the database.

    Prints the import summary as JSON on stdout. Exit status 0, 1 when rows were rejected, 2 when
    the file cannot be read (unknown type, bad header, undecodable text).
    """
    raise typer.Exit(_import(file, dry_run=dry_run, atomic=atomic, actor_name=actor))


LARGE_IMPORT = 4 << 20  # files above 4 MiB get a progress bar


def _import(path: Path, *, dry_run: bool, atomic: bool, actor_name: str) -> int:
    """`indicators import`: the summary as JSON on stdout; 0, 1 when rows were rejected, 2 when unread."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from app.transfer.importer import import_file

    actor = Principal(name=actor_name, role=Role.admin)
    console = Console(stderr=True)
    size = path.stat().st_size
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=size < LARGE_IMPORT or not console.is_terminal,
    )
    try:
        with bar, Session(get_engine()) as session, session.begin():
            task = bar.add_task(f"importing {path.name}", total=size)
            begin_for_write(session)
            summary = import_file(
                session,
                path,
                actor=actor,
                dry_run=dry_run,
                atomic=atomic,
                progress=lambda done: bar.update(task, completed=done),
            )
            body = summary.body()
    except Problem as problem:
        if "rejected" not in problem.extra:  # the file itself could not be read
            console.print(f"error: {problem.detail}", markup=False, highlight=False, soft_wrap=True)
            for error in problem.errors or []:
                console.print(
                    f"  {error['loc']}: {error['msg']}", markup=False, highlight=False, soft_wrap=True
                )
            return 2
        body = problem.extra
    sys.stdout.buffer.write(dumps(body) + b"\n")
    sys.stdout.flush()
    return 1 if body["rejected"] else 0


@cli.command("dump")
def dump_(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The file to write (.jsonl.gz)")],
) -> None:
    """Write everything to one portable file: departments, indicators, figures and targets with every
    version, tokens (their hashes). The same data gives the same bytes, from SQLite or PostgreSQL."""
    from app import backup

    partial = file.with_name(file.name + ".partial")
    try:
        counts = backup.dump(get_engine(), partial)
    except backup.BackupError as exc:
        partial.unlink(missing_ok=True)
        _fail(str(exc))
    partial.replace(file)  # a dump that failed half-way never stands where a good one was
    typer.echo(f"dumped {counts.rows} rows to {file}: {counts}", err=True)


@cli.command("restore")
def restore_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A file `indicators dump` wrote")],
) -> None:
    """Load a dump into an empty database (it is migrated first); a database with data is refused.

    Everything is loaded in one transaction, then the schema is brought to the latest version."""
    from app import backup

    try:
        counts = backup.restore(get_engine(), file)
    except backup.BackupError as exc:
        _fail(str(exc))
    typer.echo(f"restored {counts.rows} rows from {file}: {counts}", err=True)


def main() -> None:
    cli()
