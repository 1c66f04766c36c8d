"""The gateway's configuration: `load_config` / `parse_config` read ``plano_config.yaml`` into the frozen
dataclasses of `model`, failing loudly with the key's name (`values`); `keys` names keys no setting reads."""

from plano_proxy.proxy.config.load import load_config, parse_config
from plano_proxy.proxy.config.model import (
    Config,
    ConfigError,
    GatewayKey,
    Listener,
    ProviderConfig,
    Retention,
    RetryPolicy,
    StateStorage,
    Timeouts,
)

__all__ = [
    "Config",
    "ConfigError",
    "GatewayKey",
    "Listener",
    "ProviderConfig",
    "Retention",
    "RetryPolicy",
    "StateStorage",
    "Timeouts",
    "load_config",
    "parse_config",
]
