"""Config loader: Plano's format, substitution, and an error that names the key for every kind of mistake."""

from __future__ import annotations

import textwrap

import pytest

from plano_proxy.proxy.config import ConfigError, parse_config
from plano_proxy.proxy.upstream.routing import ModelTable

BASE = """
model_providers:
  - model: openai/gpt-4o-mini
    access_key: $OPENAI_API_KEY
    default: true
  - model: anthropic/claude-sonnet-4-5
    access_key: ${ANTHROPIC_API_KEY}
  - model: ollama/llama3.1
model_aliases:
  fast-model: {target: gpt-4o-mini}
"""
ENV = {"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-ant"}


def parse(text: str, env: dict[str, str] | None = None):
    return parse_config(textwrap.dedent(text), ENV if env is None else env)


def test_plano_format_loads_with_defaults() -> None:
    """The minimal Plano config gives the default listener, substituted keys and known base URLs."""
    config = parse(BASE)
    assert (config.listener.address, config.listener.port, config.listener.timeout) == ("127.0.0.1", 12000, 300.0)
    openai, anthropic, ollama = config.providers
    assert openai.access_key == "sk-openai" and openai.default and openai.base_url == "https://api.openai.com/v1"
    assert anthropic.access_key == "sk-ant" and anthropic.interface == "anthropic"
    assert ollama.access_key is None and ollama.base_url == "http://localhost:11434/v1"
    assert config.aliases == {"fast-model": "gpt-4o-mini"}
    assert config.state_storage is None


def test_listener_timeout_and_port() -> None:
    """Listener address, port and a duration with a unit are read from the model listener."""
    config = parse(BASE + "listeners:\n  - {type: model, address: 0.0.0.0, port: 8080, timeout: 90s}\n")
    assert (config.listener.address, config.listener.port, config.listener.timeout) == ("0.0.0.0", 8080, 90.0)


def test_upstream_connections_default_and_limit() -> None:
    """The upstream pool is large by default (a stream holds a connection throughout) and can be set per listener."""
    assert parse(BASE).listener.upstream_connections == 4096
    config = parse(BASE + "listeners:\n  - {type: model, upstream_connections: 20000}\n")
    assert config.listener.upstream_connections == 20000
    with pytest.raises(ConfigError, match=r"listeners\[0\]\.upstream_connections: 0 is out of range"):
        parse(BASE + "listeners:\n  - {type: model, upstream_connections: 0}\n")


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("http://localhost:11434", "http://localhost:11434/v1"),
        ("http://localhost:11434/", "http://localhost:11434/v1"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1"),
        ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
        ("http://gateway.internal/llm", "http://gateway.internal/llm/v1"),
    ],
)
def test_base_url_with_or_without_v1(base_url: str, root: str) -> None:
    """base_url works with or without a trailing /v1 (and keeps other version segments as given)."""
    config = parse(f"model_providers:\n  - {{model: vllm/qwen, base_url: '{base_url}'}}\n")
    assert config.providers[0].base_url == root


def test_default_substitution_syntax() -> None:
    """${VAR:-default} takes the default when VAR is unset and the variable when it is set."""
    text = "model_providers:\n  - {model: ollama/llama3.1, base_url: '${OLLAMA_URL:-http://127.0.0.1:9}'}\n"
    assert parse(text, {}).providers[0].base_url == "http://127.0.0.1:9/v1"
    assert parse(text, {"OLLAMA_URL": "http://h:1/v1"}).providers[0].base_url == "http://h:1/v1"


def test_legacy_llm_providers_name() -> None:
    """llm_providers is accepted as the legacy name of model_providers."""
    config = parse(BASE.replace("model_providers", "llm_providers"))
    assert len(config.providers) == 3


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            BASE,
            {"ANTHROPIC_API_KEY": "k"},
            "model_providers[0].access_key: environment variable OPENAI_API_KEY is not set (provider 'openai/gpt-4o-mini' needs it)",
        ),
        (
            BASE + BASE.replace("model_providers", "llm_providers").split("model_aliases")[0],
            ENV,
            "model_providers and llm_providers: give one of them",
        ),
        (
            "model_providers:\n  - {model: gpt-4o}\n",
            ENV,
            "model_providers[0].model: 'gpt-4o' is not of the form <provider>/<model-id>",
        ),
        ("model_providers:\n  - {model: acme/m1}\n", ENV, "model_providers[0].model: provider 'acme' is not known"),
        (
            "model_providers:\n  - {model: acme/m1, provider_interface: grpc}\n",
            ENV,
            "model_providers[0].provider_interface: 'grpc' is not one of",
        ),
        (
            "model_providers:\n  - {model: openai/gpt-4o}\n",
            ENV,
            "model_providers[0].access_key: provider 'openai/gpt-4o' needs an API key",
        ),
        (
            "model_providers:\n  - {model: ollama/m, default: yes please}\n",
            ENV,
            "model_providers[0].default: 'yes please' is not true or false",
        ),
        (
            "model_providers:\n  - {model: ollama/m, base_url: 'ftp://x'}\n",
            ENV,
            "model_providers[0].base_url: 'ftp://x' is not an http(s) URL",
        ),
        (
            "model_providers:\n  - {model: ollama/m, max_tokens: lots}\n",
            ENV,
            "model_providers[0].max_tokens: 'lots' is not a valid integer",
        ),
        (
            "model_providers:\n  - {model: ollama/m, timeouts: {idle: soon}}\n",
            ENV,
            "model_providers[0].timeouts.idle: 'soon' is not a valid duration",
        ),
        (
            "model_providers:\n  - {model: ollama/a, default: true}\n  - {model: ollama/b, default: true}\n",
            ENV,
            "only one provider may have default: true, found ollama/a, ollama/b",
        ),
        (BASE + "listeners:\n  - {type: model, port: abc}\n", ENV, "listeners[0].port: 'abc' is not a valid integer"),
        (BASE + "listeners:\n  - {type: model, port: 70000}\n", ENV, "listeners[0].port: 70000 is out of range"),
        (
            BASE + "listeners:\n  - {type: model, timeout: forever}\n",
            ENV,
            "listeners[0].timeout: 'forever' is not a valid duration",
        ),
        (
            BASE.replace("target: gpt-4o-mini", "target: gpt-9"),
            ENV,
            "model_aliases.fast-model.target: 'gpt-9' is not a configured model",
        ),
        (
            BASE + "state_storage: {type: redis}\n",
            ENV,
            "state_storage.type: 'redis' is not one of memory, sqlite, postgres",
        ),
        (
            BASE + "state_storage: {type: postgres}\n",
            ENV,
            "state_storage.connection_string: required for type postgres",
        ),
        (
            BASE + "state_storage: {type: postgres, connection_string: $PG_DSN}\n",
            ENV,
            "state_storage.connection_string: environment variable PG_DSN is not set",
        ),
        ("model_providers: {model: ollama/m}\n", ENV, "model_providers: expected a list"),
        ("model_providers: [\n", ENV, "the config is not valid YAML"),
        ("", ENV, "model_providers: at least one provider is required"),
    ],
)
def test_errors_name_the_key_and_value(text: str, env: dict[str, str], message: str) -> None:
    """Each mistake is reported with its key path and the offending value."""
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    assert message in str(caught.value)


def test_keys_are_not_in_repr() -> None:
    """A provider's repr (as a traceback or a log would show it) never contains its key."""
    config = parse(BASE)
    assert "sk-openai" not in repr(config)


def test_routing_rules() -> None:
    """Aliases, provider/model, bare model and the default provider resolve; unknown names list the configured ones."""
    table = ModelTable(parse(BASE))
    assert table.resolve("fast-model").provider.qualified_name == "openai/gpt-4o-mini"
    assert table.resolve("anthropic/claude-sonnet-4-5").provider.model == "claude-sonnet-4-5"
    assert table.resolve("llama3.1").provider.provider == "ollama"
    assert table.resolve(None).provider.qualified_name == "openai/gpt-4o-mini"
    assert table.resolve("").provider.qualified_name == "openai/gpt-4o-mini"
    from plano_proxy.proxy.errors import ModelNotFound

    with pytest.raises(ModelNotFound) as caught:
        table.resolve("gpt-9")
    assert "gpt-9" in caught.value.message and "fast-model" in caught.value.message
    assert "openai/gpt-4o-mini" in caught.value.message


def test_plano_settings_are_named_as_ignored() -> None:
    """A Plano setting plano-proxy does not implement is named as ignored, and an x- key is an extension; both load."""
    text = (
        "version: v0.4.0\nprompt_targets: []\nx-anchors: {key: &key k}\n"
        "listeners:\n  - {type: model, port: 12000, router: plano_orchestrator_v1}\n"
        "model_providers:\n  - {model: openai/gpt-4o-mini, access_key: *key, routing_preferences: [], x-team: a}\n"
        "state_storage: {type: memory, x-note: dev only}\n"
    )
    assert parse(text).ignored_keys == (
        "prompt_targets",
        "model_providers[0].routing_preferences",
        "listeners[0].router",
    )
    assert parse(BASE).ignored_keys == ()


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    """Every unknown key of the file is an error naming its path, with the closest known key when one is close."""
    text = (
        "model_provider:\n  - {model: openai/gpt-4o-mini, access_key: k}\n"
        "state_storge: {type: sqlite}\n"
        "listeners:\n  - {type: model, prot: 12000}\n"
        "model_aliases:\n  fast: {target: gpt-4o-mini, weight: 2}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.problems == (
        "model_provider: unknown key, did you mean `model_providers`?",
        "state_storge: unknown key, did you mean `state_storage`?",
        "listeners[0].prot: unknown key, did you mean `port`?",
        "model_aliases.fast.weight: unknown key; model_aliases.fast takes fallbacks, target "
        "(prefix a key with x- to keep it as an extension)",
    )


def test_nested_unknown_keys() -> None:
    """Unknown keys inside timeouts, retries and retention are named too."""
    text = (
        BASE.replace(
            "    default: true",
            "    default: true\n    timeouts: {idel: 5s}\n    retries: {attempt: 1}\n    timeout: 5s",
        )
        + "state_storage: {type: memory, retention: {max_age: 1d, max_sise: 1GB}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.problems == (
        "model_providers[0].timeout: unknown key, did you mean `timeouts`?",
        "model_providers[0].timeouts.idel: unknown key, did you mean `idle`?",
        "model_providers[0].retries.attempt: unknown key, did you mean `attempts`?",
        "state_storage.retention.max_sise: unknown key, did you mean `max_size`?",
    )


def test_every_problem_of_a_file_is_reported() -> None:
    """Problems in several sections and providers come out together, in file order."""
    text = (
        "model_providers:\n"
        "  - {model: openai/gpt-4o-mini, access_key: $NOPE, default: maybe}\n"
        "  - {model: gpt-4o}\n"
        "  - {model: ollama/m, max_tokens: lots, base_url: 'ftp://x'}\n"
        "listeners:\n  - {type: model, port: abc}\n"
        "state_storage: {type: redis}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, {})
    assert caught.value.problems == (
        "model_providers[0].access_key: environment variable NOPE is not set (provider 'openai/gpt-4o-mini' needs it)",
        "model_providers[0].default: 'maybe' is not true or false",
        "model_providers[1].model: 'gpt-4o' is not of the form <provider>/<model-id>",
        "model_providers[2].base_url: 'ftp://x' is not an http(s) URL",
        "model_providers[2].max_tokens: 'lots' is not a valid integer",
        "listeners[0].port: 'abc' is not a valid integer",
        "state_storage.type: 'redis' is not one of memory, sqlite, postgres",
    )


def test_yaml_errors_name_file_line_and_column() -> None:
    """A YAML syntax error names the file, the line and the column."""
    with pytest.raises(ConfigError) as caught:
        parse_config("model_providers:\n  - model: a\n   bad: [1\n", {}, source="plano_config.yaml")
    assert str(caught.value).startswith("the config is not valid YAML: plano_config.yaml, line 3, column 4:")


def test_unset_variables_without_required_keys() -> None:
    """Loaded for check (keys not required), unset variables are listed instead of failing the file."""
    config = parse_config(textwrap.dedent(BASE), {"ANTHROPIC_API_KEY": "k"}, keys_required=False)
    assert config.unset_variables == (
        "model_providers[0].access_key: environment variable OPENAI_API_KEY is not set "
        "(provider 'openai/gpt-4o-mini' needs it)",
    )
    assert config.providers[0].access_key is None


def test_retention_settings() -> None:
    """retention takes a maximum age (required) with days, an optional size and a sweep interval."""
    storage = parse(BASE + "state_storage: {type: sqlite, retention: {max_age: 7d, max_size: 2GiB}}\n").state_storage
    assert storage is not None and storage.retention is not None
    assert (storage.retention.max_age, storage.retention.max_size, storage.retention.interval) == (
        7 * 86400,
        2 * 2**30,
        600,
    )
    with pytest.raises(ConfigError, match=r"state_storage.retention.max_age: required"):
        parse(BASE + "state_storage: {type: sqlite, retention: {max_size: 1GB}}\n")
    with pytest.raises(ConfigError, match=r"state_storage.retention.max_size: 'big' is not a valid size"):
        parse(BASE + "state_storage: {type: sqlite, retention: {max_age: 1d, max_size: big}}\n")
