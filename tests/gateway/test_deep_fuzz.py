"""Bad input deep inside valid requests never reaches a 5xx (scripts/body_fuzzer.py): valid bodies of every client API
and the Conversations API, mutated at every depth, on all three upstream kinds. Every answer is a 2xx or a 4xx in the
client's format, nothing hangs, the gateway stays up and a stored response is unchanged."""

from __future__ import annotations

import asyncio

import openai
import pytest
from body_fuzzer import TARGETS, draw, mutated, run_fuzz
from support import http
from support.servers import ServerThread

SEED = 20261203
BODIES = 1500


def test_fuzzed_bodies_never_reach_a_5xx(gateway: ServerThread, openai_client: openai.OpenAI) -> None:
    """1,500 deep-mutated bodies: no 5xx, no hang, no broken connection, the stored objects as they were."""
    kept = openai_client.responses.create(model="gpt-4o-mini", input="kept through the fuzz")
    before = http.get(f"{gateway.url}/v1/responses/{kept.id}").body
    tally = asyncio.run(run_fuzz(gateway.url, BODIES, SEED))
    assert (tally.server_errors, tally.hangs, tally.broken) == (0, 0, 0), (tally.summary(), tally.findings)
    assert set(tally.statuses) - {200, 400, 404, 413} == set(), tally.summary()
    assert tally.statuses[200] > BODIES // 10 and tally.statuses[400] > BODIES // 10, tally.summary()
    assert http.get(f"{gateway.url}/healthz").status == 200
    assert http.get(f"{gateway.url}/v1/responses/{kept.id}").body == before


def test_a_seed_draws_the_same_bodies() -> None:
    """A run is reproduced by its seed: the same seed draws the same requests."""
    import random

    first = [draw(random.Random(7)) for _ in range(3)]
    again = [draw(random.Random(7)) for _ in range(3)]
    assert [(t.path, b) for t, b in first] == [(t.path, b) for t, b in again]


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.path)
def test_every_corpus_body_is_valid_before_mutation(gateway: ServerThread, target: object) -> None:
    """The corpus the fuzzer starts from is made of requests the gateway answers with a 200, on every upstream kind,
    so the mutations start deep inside valid requests rather than at a wall of 400s."""
    from body_fuzzer import MODELS, Target

    assert isinstance(target, Target)
    for body in target.corpus():
        for model in MODELS if target.takes_model else (None,):
            sent = {**body, "model": model} if model else body
            answer = http.post(
                f"{gateway.url}{target.path}", sent, headers={"authorization": "Bearer k", **target.headers}
            )
            assert answer.status == 200, (target.path, model, answer.body[:400])


def test_mutation_changes_the_body() -> None:
    """Every drawn body differs from the corpus body it came from."""
    import random

    rng = random.Random(3)
    body = TARGETS[0].corpus()[1]
    assert all(mutated(body, rng) != body for _ in range(50))


def test_a_fault_inside_the_gateway_is_a_counted_500(mock_upstream: ServerThread) -> None:
    """What escapes a handler is the gateway's fault: a 500 in the client's format, logged with the request id and
    counted in plano_internal_errors_total, never passed off as the client's 400."""
    from aiohttp import web
    from structlog.testing import capture_logs
    from support.gateway import gateway_config_text

    from plano_proxy.proxy.app import create_app
    from plano_proxy.proxy.config import parse_config

    async def broken(request: web.Request) -> web.Response:
        raise KeyError("a bug")

    def app() -> web.Application:
        application = create_app(parse_config(gateway_config_text(mock_upstream.url), {}))
        application.router.add_post("/v1/broken", broken)
        return application

    server = ServerThread(app)
    try:
        with capture_logs() as logs:
            answer = http.post(f"{server.url}/v1/broken", {}, headers={"x-request-id": "req_backstop"})
        assert answer.status == 500
        assert answer.json()["error"] == {
            "message": "The gateway failed to handle this request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        assert [entry["request_id"] for entry in logs if entry["event"] == "unhandled_error"] == ["req_backstop"]
        metrics = http.get(f"{server.url}/metrics").body.decode()
        assert 'plano_internal_errors_total{endpoint="/v1/broken"} 1.0' in metrics
    finally:
        server.close()
