"""Resolving the model a client asked for to a configured provider.

Order: an alias, then ``provider/model``, then a bare ``model`` (the first configured provider serving that id wins
when several do). A request without a model goes to the ``default: true`` provider. Anything else is a
`ModelNotFound` whose message lists what is configured; it is never sent to the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from plano_proxy.proxy.config import Config, ProviderConfig
from plano_proxy.proxy.errors import InvalidRequest, ModelNotFound


@dataclass(frozen=True, slots=True)
class Route:
    provider: ProviderConfig
    requested: str
    """The name the client used, echoed back in the answer's ``model`` field."""
    fallbacks: tuple[ProviderConfig, ...] = ()
    """Providers to try, in order, when this one fails before its answer starts."""

    def candidates(self) -> list[Route]:
        """This route, then one per fallback, each keeping the name the client asked for."""
        return [self, *(Route(provider, self.requested) for provider in self.fallbacks)]


class ModelTable:
    def __init__(self, config: Config) -> None:
        self._aliases = dict(config.aliases)
        self._alias_fallbacks = dict(config.alias_fallbacks)
        self._by_name: dict[str, ProviderConfig] = {}
        for provider in config.providers:
            self._by_name[provider.qualified_name] = provider
        for provider in config.providers:
            self._by_name.setdefault(provider.model, provider)
        self.providers = config.providers
        self.default = next((p for p in config.providers if p.default), None)

    def resolve(self, model: object) -> Route:
        if model is None or model == "":
            if self.default is None:
                raise InvalidRequest("you must provide a model parameter", param="model")
            return Route(self.default, self.default.model, tuple(self._provider(n) for n in self.default.fallbacks))
        if not isinstance(model, str):
            raise InvalidRequest(
                f"Invalid type for 'model': expected a string, but got {type(model).__name__}.", param="model"
            )
        target = self._aliases.get(model, model)
        provider = self._by_name.get(target)
        if provider is None:
            raise ModelNotFound(model, self.names())
        names = self._alias_fallbacks.get(model) or provider.fallbacks
        return Route(provider, model, tuple(self._provider(name) for name in names))

    def _provider(self, name: str) -> ProviderConfig:
        return self._by_name[self._aliases.get(name, name)]

    def names(self) -> list[str]:
        """Every name a client may use: qualified names, bare ids and aliases."""
        names = [p.qualified_name for p in self.providers]
        names += [name for name in self._by_name if name not in names]
        return names + list(self._aliases)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)
