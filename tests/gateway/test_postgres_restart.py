"""A real PostgreSQL restart under a real gateway process: fast 503s while it is away, recovery on its own after.

The cluster is a private one (`scripts/pg_cluster.py`), stopped with ``pg_ctl stop -m fast`` as an operator restarting
it would; the shared test server is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from pg_cluster import PgCluster, require_cluster
from support import http
from support.gateway import gateway_config_text
from support.processes import GatewayProcess
from support.servers import ServerThread

pytestmark = pytest.mark.postgres

FAST = 1.0
"""Seconds within which every answer must come while the database is known to be down."""
RECOVERY = 10.0
"""Seconds the gateway has to serve stored state again once the database is back."""


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds the call took, and what it returned or raised."""
    started = time.perf_counter()
    try:
        outcome = call()
    except Exception as exc:
        outcome = exc
    return time.perf_counter() - started, outcome


def assert_storage_503(outcome: Any) -> None:
    assert isinstance(outcome, openai.APIStatusError), outcome
    assert outcome.status_code == 503, outcome
    assert outcome.response.headers.get("retry-after") == "1"
    assert outcome.body["code"] == "storage_unavailable"  # type: ignore[index]


def test_postgres_restart_fails_fast_and_recovers(tmp_path: Path, mock_upstream: ServerThread) -> None:
    require_cluster()
    cluster = PgCluster()
    gateway: GatewayProcess | None = None
    try:
        cluster.start()
        config = tmp_path / "plano_config.yaml"
        storage = f"state_storage: {{type: postgres, connection_string: '{cluster.dsn}'}}\n"
        config.write_text(gateway_config_text(mock_upstream.url, storage))
        gateway = GatewayProcess(config)
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=30)
        acknowledged = [client.responses.create(model="gpt-4o-mini", input=f"before {n}").id for n in range(3)]
        chain = client.responses.create(
            model="gpt-4o-mini", input="before, continued", previous_response_id=acknowledged[0]
        )
        acknowledged.append(chain.id)

        cluster.stop("fast")
        times = outage_answers(gateway, client, chain.id)

        cluster.start()
        started = time.perf_counter()
        continued = poll_until_served(
            lambda: client.responses.create(model="gpt-4o-mini", input="after", previous_response_id=chain.id)
        )
        recovered = time.perf_counter() - started
        assert '"before 0", "before, continued"' in continued.output_text
        assert client.responses.create(model="gpt-4o-mini", input="after, new").status == "completed"
        assert [client.responses.retrieve(response_id).id for response_id in acknowledged] == acknowledged
        assert http.get(f"{gateway.url}/readyz").status == 200
        print(
            f"\noutage: {', '.join(f'{name} {seconds:.3f}s' for name, seconds in times.items())}; recovered in {recovered:.3f}s"
        )
    finally:
        try:
            if gateway is not None:
                assert gateway.stop() == 0, gateway.log()
        finally:
            cluster.destroy()


def outage_answers(gateway: GatewayProcess, client: openai.OpenAI, stored_id: str) -> dict[str, float]:
    """Every request that needs the database gets a 503 with Retry-After within `FAST`; a stateless one still works.
    Returns the seconds each took."""
    times: dict[str, float] = {}
    # The first stored turn is the failure that finds the database away (retried for the writer's short grace).
    times["first stored turn"], outcome = timed(lambda: client.responses.create(model="gpt-4o-mini", input="during 0"))
    assert_storage_503(outcome)
    for n in range(1, 4):
        times[f"stored turn {n}"], outcome = timed(
            lambda n=n: client.responses.create(model="gpt-4o-mini", input=f"during {n}")
        )
        assert_storage_503(outcome)
    times["continuation"], outcome = timed(
        lambda: client.responses.create(model="gpt-4o-mini", input="during", previous_response_id=stored_id)
    )
    assert_storage_503(outcome)
    times["retrieve"], outcome = timed(lambda: client.responses.retrieve(stored_id))
    assert_storage_503(outcome)
    times["stored chat turn"], outcome = timed(
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "during"}])
    )
    assert_storage_503(outcome)
    times["readyz"], ready = timed(lambda: http.get(f"{gateway.url}/readyz"))
    assert ready.status == 503 and ready.json()["checks"]["storage"].startswith("unavailable")
    # The Messages API keeps no state: the database being away is none of its business.
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=30)
    times["messages"], message = timed(
        lambda: claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "during"}]
        )
    )
    assert isinstance(message, anthropic.types.Message), message
    slow = {name: seconds for name, seconds in times.items() if seconds >= FAST}
    assert not slow, f"answers slower than {FAST}s while the database was away: {slow}"
    return times


def poll_until_served(call: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + RECOVERY
    while True:
        try:
            return call()
        except openai.APIStatusError as exc:
            if exc.status_code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)
