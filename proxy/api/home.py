"""``GET /`` (and ``HEAD /``): the playground, or, with the playground off, a small self-contained page naming the
gateway's endpoints.

Clients probe the root before their first request (Claude Code sends ``HEAD /``), so it answers 200 without a key,
like the health endpoints. The page has no scripts and no external assets: it works offline and needs no build.
"""

from __future__ import annotations

from aiohttp import web

from plano_proxy.proxy.api import playground

HOME_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plano-proxy</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; } td { padding: .2rem .6rem .2rem 0; vertical-align: top; }
code { font: 13px ui-monospace, monospace; white-space: nowrap; }
</style>
</head>
<body>
<h1>plano-proxy</h1>
<p>An LLM gateway: point an OpenAI or Anthropic SDK at this address (<code>/v1</code> for OpenAI clients).</p>
<h2>Client APIs</h2>
<table>
<tr><td><code>POST /v1/chat/completions</code></td><td>OpenAI Chat Completions</td></tr>
<tr><td><code>POST /v1/messages</code></td><td>Anthropic Messages</td></tr>
<tr><td><code>POST /v1/messages/count_tokens</code></td><td>Anthropic token count</td></tr>
<tr><td><code>POST /v1/responses</code></td><td>OpenAI Responses, with server-side state</td></tr>
<tr><td><code>POST /v1/responses/input_tokens</code></td><td>Responses token count</td></tr>
<tr><td><code>POST /v1/responses/compact</code></td><td>Responses compaction</td></tr>
<tr><td><code>GET|DELETE /v1/responses/{response_id}</code></td><td>a stored response
  (<code>?stream=true&amp;starting_after=N</code> replays its events)</td></tr>
<tr><td><code>GET /v1/responses/{response_id}/input_items</code></td><td>its input items</td></tr>
<tr><td><code>POST /v1/responses/{response_id}/cancel</code></td><td>cancel a background response</td></tr>
<tr><td><code>POST /v1/conversations</code></td><td>OpenAI Conversations</td></tr>
<tr><td><code>GET|POST|DELETE /v1/conversations/{conversation_id}</code></td><td>a conversation</td></tr>
<tr><td><code>GET|POST /v1/conversations/{conversation_id}/items</code></td><td>its items</td></tr>
<tr><td><code>GET|DELETE /v1/conversations/{conversation_id}/items/{item_id}</code></td><td>one item</td></tr>
<tr><td><code>GET /v1/models</code></td><td>configured models and aliases</td></tr>
<tr><td><code>GET /v1/models/{model_id}</code></td><td>one model</td></tr>
</table>
<h2>Operations</h2>
<table>
<tr><td><code>GET /healthz</code></td><td>liveness</td></tr>
<tr><td><code>GET /readyz</code></td><td>readiness (the state store answers)</td></tr>
<tr><td><code>GET /metrics</code></td><td>Prometheus metrics</td></tr>
</table>
</body>
</html>
"""


async def home_page(request: web.Request) -> web.Response:
    """The playground (`playground`), or this page when ``playground.enabled`` is false. Served for ``HEAD /`` too:
    aiohttp answers a GET route's HEAD with the same headers and no body."""
    return playground.page(request) or web.Response(text=HOME_PAGE, content_type="text/html")
