"""Schemathesis over the whole OpenAPI document, in-process, authenticated as admin and as a clerk, on
both databases; then its stateful phase, which follows the document's links from a create to its
read, change and delete.

Every operation gets FUZZ_EXAMPLES generated requests (10 here; `make fuzz` runs 500), valid and
invalid, checked for: no 5xx, status codes, content types, headers and bodies as documented, invalid
input refused, valid input not refused for reasons the schema does not give. Half of the generated
paths name the seeded indicators and departments, so writes and reads reach the database rather than
stopping at a 404.
"""

import copy
import csv
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.checks
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from sqlalchemy.orm import Session

from app.core.db.session import get_session
from app.main import create_app
from tests.helpers import Tokens

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
# Scenarios of the stateful phase, each up to STEPS calls (make fuzz: FUZZ_EXAMPLES of them).
SCENARIOS = int(os.environ.get("FUZZ_EXAMPLES", "15"))
STEPS = 10
WHO = ["admin", "clerk-zone"]
SEED = Path(__file__).resolve().parent.parent / "seed" / "data"


def _codes(name: str) -> list[str]:
    with (SEED / name).open(encoding="utf-8") as f:
        return [row["code"] for row in csv.DictReader(f)]


INDICATORS = _codes("indicators.csv")
DEPARTMENTS = _codes("departments.csv")
KNOWN = {"indicator": INDICATORS, "department": DEPARTMENTS, "code": INDICATORS + DEPARTMENTS}


def _with_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the seed's codes as examples of path parameters, for this test only: the
    coverage phase builds its requests around a parameter's example, and a made-up code is a 404."""
    document = copy.deepcopy(document)
    for path, item in document["paths"].items():
        for op in item.values():
            for param in op.get("parameters", []):
                name = param["name"]
                if param["in"] != "path":
                    continue
                if name == "code":
                    name = "department" if path.startswith("/api/v1/departments") else "indicator"
                if name in KNOWN:
                    param["schema"]["examples"] = KNOWN[name][:3]
                elif name == "year":
                    param["schema"]["examples"] = [2021, 2022]
    return document


APP = create_app()
schema = schemathesis.openapi.from_dict(_with_examples(APP.openapi()))
# Checks that send requests of their own (without the token, say) go to the schema's app.
schema.app = APP
# Requests the schema allows may still break a rule it cannot express: a code that names nothing
# (422 naming the field), a value outside its indicator's value_type (422), a stale If-Match (412),
# a cursor this service never gave out (400).
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2xx",
    "3xx",
    "400",
    "401",
    "403",
    "404",
    "409",
    "412",
    "422",
]


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """The app the schema sends to: `session_client` gives it this test's database session."""
    return APP


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy[Any]) -> Any:
    def with_known_codes(params: Any) -> st.SearchStrategy[Any]:
        if not isinstance(params, dict) or not any(k in KNOWN for k in params):
            return st.just(params)
        known = {k: st.sampled_from(KNOWN[k]) if k in KNOWN else st.just(v) for k, v in params.items()}
        return st.one_of(st.just(params), st.fixed_dictionaries(known))

    return strategy.flatmap(with_known_codes)


@schema.hook
def before_generate_query(context: Any, strategy: st.SearchStrategy[Any]) -> Any:
    # Filters name departments and indicators by code too; an unknown one is a 422 naming the
    # parameter, which the schema cannot say (the codes are data), so half the queries use known ones.
    def with_known_codes(query: Any) -> st.SearchStrategy[Any]:
        if not isinstance(query, dict) or not any(k in KNOWN for k in query):
            return st.just(query)

        def known(key: str, value: Any) -> st.SearchStrategy[Any]:
            if key not in KNOWN:
                return st.just(value)
            if isinstance(value, list):
                return st.lists(st.sampled_from(KNOWN[key]), min_size=2, max_size=3, unique=True)
            return st.sampled_from(KNOWN[key])

        return st.one_of(st.just(query), st.fixed_dictionaries({k: known(k, v) for k, v in query.items()}))

    return strategy.flatmap(with_known_codes)


BODY_CODES = {"department": DEPARTMENTS, "indicator": INDICATORS, "parent": DEPARTMENTS}


@schema.hook
def before_generate_body(context: Any, strategy: st.SearchStrategy[Any]) -> Any:
    # Bodies name departments and indicators by code too (a token's department, a copy's filters):
    # half of them name known ones, as for paths and queries.
    def with_known_codes(body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict) or not any(isinstance(body.get(k), str) for k in BODY_CODES):
            return st.just(body)
        known = {
            k: st.sampled_from(BODY_CODES[k]) if k in BODY_CODES and isinstance(v, str) else st.just(v)
            for k, v in body.items()
        }
        return st.one_of(st.just(body), st.fixed_dictionaries(known))

    return strategy.flatmap(with_known_codes)


def _unsendable(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) < 2 or any(_unsendable(v) or isinstance(v, list) for v in value)
    return value is None or isinstance(value, dict)


@schema.hook
def filter_query(context: Any, query: Any) -> bool:
    # A query string has no form for an object, a null, or a list of fewer than two: schemathesis
    # leaves such a parameter out, sends `cursor=`, or sends [false] as `section=false`, then expects
    # the request it did send, a valid one, to be refused. Those cases test its serializer, not this
    # API. (A list of two or more goes out as a repeated parameter, which the API does refuse.)
    return not (isinstance(query, dict) and any(_unsendable(v) for v in query.values()))


# What each operation answered to data generated as valid (positive mode), by backend and role:
# schemathesis' "schema validation mismatch" warning, computed as its engine does, once a run (one
# role) an operation (test_no_schema_validation_mismatch).
POSITIVE: dict[tuple[str, str, str], Counter[int]] = defaultdict(Counter)
# Calls by (backend, role, phase, operation); phase is "examples" (test_api) or "stateful".
CALLS: Counter[tuple[str, str, str, str]] = Counter()
LINKED: Counter[tuple[str, str]] = Counter()
SERVER_ERRORS: Counter[tuple[str, str]] = Counter()
VIOLATIONS: Counter[tuple[str, str]] = Counter()


def _record(
    backend: str, who: str, phase: str, case: schemathesis.Case[Any], status: int, *, linked: bool = False
) -> None:
    CALLS[(backend, who, phase, case.operation.label)] += 1
    if linked:
        LINKED[(backend, who)] += 1
    if status >= 500:
        SERVER_ERRORS[(backend, who)] += 1
    meta = case.meta
    if meta is not None and meta.generation.mode is GenerationMode.POSITIVE:
        POSITIVE[(backend, who, case.operation.label)][status] += 1


def _validate(backend: str, who: str, case: schemathesis.Case[Any], response: Any) -> None:
    """The checks on one answer; a failure is counted (the figures) before it fails the test."""
    try:
        case.validate_response(response, excluded_checks=_excluded(case))
    except Exception:
        VIOLATIONS[(backend, who)] += 1
        raise


def _excluded(case: schemathesis.Case[Any]) -> list[Any]:
    batches = {
        ("POST", "/api/v1/observations"),
        ("POST", "/api/v1/targets"),
        ("POST", "/api/v1/exchange/dhis2/dataValueSets"),  # DHIS2's import summary, as a batch's
    }
    if (case.method, case.path) == ("GET", "/api/v1/progress"):
        # Its negative cases include codes made of digits only (`section=15690`), which schemathesis
        # generates as integers "violating" `type: string` but are the same text in a query string:
        # a valid code, rightly accepted.
        return [schemathesis.checks.negative_data_rejection]
    if (case.method, case.path) in batches:
        # A batch (of figures or targets) reports its bad rows in its summary: with atomic=false
        # (or dry_run) the contract answers 200 for a batch whose rows break the row schema; and a
        # CSV body is any string to the schema, while the service reads only CSV (415 for binary).
        # No 5xx, and answers as documented, still hold.
        return [schemathesis.checks.negative_data_rejection, schemathesis.checks.positive_data_acceptance]
    return []


@schema.parametrize()
# The suite's short run is derandomized, so CI judges the same examples every time; `make fuzz`
# (FUZZ_EXAMPLES set) explores afresh on each run.
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize="FUZZ_EXAMPLES" not in os.environ,
)
@pytest.mark.parametrize("who", WHO)
def test_api(
    case: schemathesis.Case[Any],
    session_client: TestClient,
    auth: Tokens,
    reopened_2021: None,
    backend: str,
    who: str,
) -> None:
    # 2021 reopened: the seed approves it, and a figure locked is a 409 to every write of it.
    response = case.call(headers=auth[who])
    _record(backend, who, "examples", case, response.status_code)
    _validate(backend, who, case, response)


@pytest.mark.parametrize("who", WHO)
def test_stateful(
    session_client: TestClient,
    session: Session,
    app: FastAPI,
    auth: Tokens,
    reopened_2021: None,
    backend: str,
    who: str,
) -> None:
    """Scenarios of linked calls: a department or indicator created, then read, changed, deleted; a
    figure put, then read, patched, its history read; a token made, then revoked; and so on.

    Each scenario starts from the same database (a savepoint rolled back after it, each request in a
    savepoint of its own, rolled back when it fails): Hypothesis replays a scenario's first steps to
    explore from them, and they must meet the state they met before."""
    headers = auth[who]

    def request_session() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = request_session

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.scenario = session.begin_nested()

        def teardown(self) -> None:
            self.scenario.rollback()

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"headers": headers}

        def step(self, input: Any) -> Any:
            # A call whose parameters a link filled from an earlier answer.
            self.linked = input.transition is not None and bool(input.applied_parameters)
            return super().step(input)

        def validate_response(
            self, response: Any, case: schemathesis.Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            _record(backend, who, "stateful", case, response.status_code, linked=self.linked)
            _validate(backend, who, case, response)

    Workflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize="FUZZ_EXAMPLES" not in os.environ,
        )
    )


def _mismatched(counts: Counter[int]) -> bool:
    """Schemathesis' "schema validation mismatch" for one operation in one run: every answer to valid
    data a 4xx (a 500 aside), and a tenth or more of those that say anything about the data (not 401,
    403, 409, 429) validation errors rather than 404s."""
    if set(counts) <= {401, 403, 500}:
        return False
    if not all(400 <= code < 500 for code in counts if code != 500):
        return False
    other = sum(
        n for code, n in counts.items() if 400 <= code < 500 and code not in {401, 403, 404, 409, 429}
    )
    total = other + counts.get(404, 0)
    return bool(total) and other / total >= 0.1


def test_no_schema_validation_mismatch(backend: str) -> None:
    """No operation answers the data generated as valid only with 4xx, a tenth or more of them
    validation errors (400, 422): schemathesis' "schema validation mismatch", which means the
    service checks something its document does not say. Runs after the tests above (same file),
    and prints the run's figures for this backend, by role."""
    mismatched = {
        (who, label): dict(counts)
        for (run, who, label), counts in POSITIVE.items()
        if run == backend and _mismatched(counts)
    }
    # Both roles' answers together: the short run's few random examples of an operation can all miss
    # the seed's codes for one role (the coverage phase's made-up codes are 422), not for both.
    both: dict[str, Counter[int]] = defaultdict(Counter)
    for (run, _, label), counts in POSITIVE.items():
        if run == backend:
            both[label].update(counts)
    mismatched_both = {label: dict(counts) for label, counts in both.items() if _mismatched(counts)}
    assert any(key[0] == backend for key in CALLS), "run with the fuzz tests above it"
    print(
        f"\nfuzz on {backend} ({EXAMPLES} examples an operation; stateful: {SCENARIOS} scenarios "
        f"of up to {STEPS} calls):"
    )
    for who in WHO:
        per_operation = {
            label: n
            for (run, role, phase, label), n in CALLS.items()
            if (run, role, phase) == (backend, who, "examples")
        }
        stateful = sum(
            n
            for (run, role, phase, _), n in CALLS.items()
            if (run, role, phase) == (backend, who, "stateful")
        )
        calls = sorted(per_operation.values()) or [0]
        print(
            f"  {who}: {len(per_operation)} operations, {sum(calls)} calls "
            f"(per operation min {calls[0]}, median {calls[len(calls) // 2]}, max {calls[-1]}); "
            f"stateful {stateful} calls ({LINKED[(backend, who)]} following a link); "
            f"5xx {SERVER_ERRORS[(backend, who)]}, schema violations {VIOLATIONS[(backend, who)]}, "
            f"validation mismatches {sum(1 for w, _ in mismatched if w == who)}"
        )
    assert mismatched_both == {}, mismatched_both
    if "FUZZ_EXAMPLES" in os.environ:  # the long run: as schemathesis' engine judges, one role a run
        assert mismatched == {}, mismatched
