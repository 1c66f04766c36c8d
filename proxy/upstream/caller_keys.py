"""``passthrough_auth``: a provider called with the caller's own key instead of the gateway's configured one."""

from __future__ import annotations

import dataclasses

from plano_proxy.proxy.errors import Unauthorized
from plano_proxy.proxy.upstream.routing import Route


def with_caller_key(caller_key: str | None, route: Route, addressed: Route | None = None) -> Route:
    """The route as it is, or, for a passthrough provider, with the caller's key in place of the configured one.

    The key then goes wherever the configured one would: the provider's own auth header, and the redaction of
    provider error texts. A caller's key is for the provider the caller addressed: a fallback to another provider
    (`addressed` names the route the request was for) is called with its own configured key, never the caller's.
    """
    provider = route.provider
    if not provider.passthrough_auth:
        return route
    if addressed is not None and addressed.provider.provider != provider.provider:
        return route  # its configured key, or none: the provider's own 401 then moves on to the next fallback
    key = caller_key or provider.access_key
    if not key:
        raise Unauthorized(
            f"The provider {provider.qualified_name!r} is called with your own API key: send it as "
            "'Authorization: Bearer <key>' or 'x-api-key'."
        )
    return dataclasses.replace(route, provider=dataclasses.replace(provider, access_key=key))
