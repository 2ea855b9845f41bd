"""Settings from the environment, all prefixed INDICATORS_."""

import re
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INDICATORS_", extra="ignore")

    database_url: str = "sqlite:///./indicators.db"
    public_read: bool = False
    max_upload_mb: float = 20
    max_batch_rows: int = 2_000_000
    max_year_span: int = 201
    max_json_depth: int = 32
    db_pool_size: int = 8
    db_max_overflow: int = 8
    # Requests per worker that work with the database at once; the others wait their turn. Few is
    # fastest: threads beyond that only fight over the GIL (BENCHMARKS.md). A request holds
    # at most two connections, so keep 2 x this within db_pool_size + db_max_overflow.
    db_concurrency: int = Field(default=2, ge=1)
    # PostgreSQL: psycopg prepares a statement on the server once a connection has run it this many
    # times (psycopg's default, 5), which saves parsing it again. Behind a pooler in transaction
    # mode (PgBouncer before 1.21, or without max_prepared_statements) the next transaction may run
    # on another server connection, where that statement was never prepared: set `none` there, and
    # every statement is sent whole (README, "Several instances").
    db_prepare_threshold: int | None = Field(default=5, ge=0)
    log_level: str = "info"
    # uvicorn's line per request; off where a proxy in front logs requests already.
    access_log: bool = True
    # With at least as many workers as CPUs the server may run on, each worker is held to one CPU
    # (app.core.server): its event loop and its worker threads then hand the GIL to each other on
    # that CPU. Off: the kernel moves them as it likes.
    pin_workers: bool = True

    # The zone whose calendar says which year is current and when an entry period opens and closes.
    timezone: str = "Asia/Shanghai"
    # Observations may be for the current year and this many after it.
    open_future_years: int = Field(default=0, ge=0)

    # Origins whose browser pages may call the API (CORS), comma-separated: `https://dash.example`.
    # Empty: none, and answers carry no CORS header.
    cors_origins: str = ""

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, text: str) -> str:
        for origin in _split(text):
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme and host, as https://dash.example or "
                    "http://127.0.0.1:8080, with no path"
                )
        return text

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @field_validator("db_prepare_threshold", mode="before")
    @classmethod
    def _never(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off", "never"):
            return None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Asia/Shanghai)") from exc
        return name

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.timezone)).date()

    def last_open_year(self) -> int:
        """The last year observations may be for: the current one, plus INDICATORS_OPEN_FUTURE_YEARS."""
        return self.today().year + self.open_future_years

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


ORIGIN = re.compile(r"https?://[^/\s,]+")


def _split(text: str) -> list[str]:
    return [origin.strip().rstrip("/") for origin in text.split(",") if origin.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def current_settings() -> Settings:
    """The settings as a dependency: async, so FastAPI calls it in the event loop (a sync dependency
    costs a trip through the thread pool on every request)."""
    return get_settings()
