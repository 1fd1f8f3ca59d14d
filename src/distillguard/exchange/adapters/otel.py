"""OpenTelemetry GenAI spans exported as JSON → contract exchanges (one per inference span).

Followed: OpenTelemetry semantic conventions for generative AI, "Semantic conventions for
generative client AI spans" and the OpenAI / Anthropic pages, v1.37 (``gen_ai.provider.name``,
``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.definitions``, ``openai.api.type``), with what earlier versions and common
instrumentations wrote: ``gen_ai.system`` and the message events of v1.28 to v1.36,
``gen_ai.content.prompt`` / ``completion`` events of v1.26 and v1.27, ``gen_ai.usage.prompt_tokens``
/ ``completion_tokens``, and OpenLLMetry's indexed ``gen_ai.prompt.N.*`` /
``gen_ai.completion.N.*`` and ``llm.request.functions.N.*``. Export shapes: see
``_otel_spans``; message generations: see ``_otel_content``.

Which spans become exchanges: spans with ``gen_ai.operation.name`` ``chat`` (or ``responses``,
``generate_content``; or no operation name but a ``gen_ai.request.model``, as before v1.27).
Other spans (HTTP, database, ``embeddings``, ``execute_tool``, ``invoke_agent``) are skipped:
an agent span wraps the inference spans it causes, and counting both would count each call
twice. ``text_completion`` spans (the legacy Completions API, not a contract surface) are
rejected as ``unsupported``.

Surface: provider ``anthropic`` → ``anthropic.messages``; OpenAI and the providers serving the
Chat Completions API (Azure OpenAI / AI Inference, DeepSeek, Groq, Mistral, Perplexity, xAI) →
``openai.chat``, or ``openai.responses`` when ``openai.api.type`` (or the operation) says
``responses``; Claude models on ``aws.bedrock`` / ``gcp.vertex_ai`` → ``anthropic.messages``.
Any other provider is ``unsupported`` unless ``OtelOptions.default_surface`` names one.

Account: the first of ``OtelOptions.account_attribute`` (when set), ``distillguard.account_id``,
``enduser.id``, ``user.id`` found in the span's, then the resource's attributes; failing those,
the resource's ``service.name`` (the application that made the call: coarse, but the only
identity a client-side trace has). ``meta.account_source`` says which one was used. The
``distillguard.org_id`` and ``distillguard.api_key_id`` attributes fill ``org_id`` and
``api_key_id`` (hashed, see ``_common.key_id``).

Content capture is opt-in in every GenAI instrumentation, so most spans carry no messages:
they still become exchanges (empty ``messages`` / ``input``, with parameters, usage, timing
and account), and ``meta.content_source`` is ``none``. ``status`` is the span's
``http.response.status_code`` when present, a numeric ``error.type``, or 200 for a span that
did not end in error (an inference: the span records the client's view of the call).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...types import Surface
from ._common import (
    Fields,
    JSONObj,
    as_int,
    compact,
    guarded,
    key_id,
    maybe_json,
    millis_between,
    missing,
    rfc3339,
    status_code,
    unsupported,
)
from ._neutral import Params, Reply, Tool, Usage
from ._otel_content import content_of, span_attributes, tools_of
from ._otel_spans import Span, is_otlp_export, iter_spans, looks_like_span
from ._shapes import request_body, response_body

NAME: Final = "otel"


@dataclass(frozen=True, slots=True)
class OtelOptions:
    account_attribute: str | None = None
    """Span or resource attribute holding the account id, looked up before the defaults."""
    default_surface: Surface | None = None
    """Surface for inference spans of a provider with no known surface (else unsupported)."""


DEFAULT_OPTIONS: Final = OtelOptions()
ACCOUNT_ATTRIBUTES: Final = ("distillguard.account_id", "enduser.id", "user.id")
ORG_ATTRIBUTE: Final = "distillguard.org_id"
API_KEY_ATTRIBUTE: Final = "distillguard.api_key_id"

_CHAT_PROVIDERS: Final = frozenset(
    {
        "openai",
        "azure.ai.openai",
        "az.ai.openai",
        "azure.ai.inference",
        "az.ai.inference",
        "deepseek",
        "groq",
        "mistral_ai",
        "perplexity",
        "x_ai",
        "xai",
    }
)
_CLAUDE_HOSTS: Final = frozenset({"aws.bedrock", "gcp.vertex_ai"})
_INFERENCE: Final = frozenset({"chat", "responses", "generate_content"})
_LEGACY_COMPLETION: Final = frozenset({"text_completion", "completion"})


def sniff(record: Mapping[str, Any]) -> bool:
    return is_otlp_export(record) or looks_like_span(record)


@guarded(NAME)
def to_exchanges(
    record: Mapping[str, Any], options: OtelOptions = DEFAULT_OPTIONS
) -> Iterator[dict[str, Any]]:
    if not sniff(record):
        # Named with --format otel, a record of another kind must not vanish without a trace.
        raise missing(
            "resourceSpans", "is required: the record is neither an OTLP export nor a span"
        )
    for source in iter_spans(record):
        at = f"{source.path}.attributes" if source.path else "attributes"
        surface = _surface(Fields(source.attributes(), at), options)
        if surface is not None:
            yield _exchange(source.read(), surface, options)


def _at(span: Span) -> str:
    return f"{span.path}.attributes" if span.path else "attributes"


def _exchange(span: Span, surface: Surface, options: OtelOptions) -> JSONObj:
    attrs = span_attributes(span)
    warnings: list[str] = []
    f = Fields(attrs, _at(span), warnings)
    if span.start is None:
        raise missing(f"{span.path}.startTimeUnixNano" if span.path else "start_time")
    if span.span_id is None:
        raise missing(f"{span.path}.spanId" if span.path else "spanId")
    account, account_source = _account(span, f, options)
    content = content_of(span, attrs)
    params = _params(f, tools_of(attrs, _at(span)))
    reply = _reply(f, span)
    response = response_body(surface, content, reply)
    end_user = None
    if account_source not in ("enduser.id", "user.id"):
        end_user = f.str_("enduser.id") or f.str_("user.id")
    api_key = f.str_(API_KEY_ATTRIBUTE) or _resource_str(span, API_KEY_ATTRIBUTE)
    exchange: JSONObj = {
        "id": f"{span.trace_id}:{span.span_id}" if span.trace_id else span.span_id,
        "ts": rfc3339(span.start),
        "account_id": account,
        "surface": surface,
        "request": request_body(surface, content, params),
        "response": response,
        "status": _status(f, span),
        "latency_ms": millis_between(span.start, span.end),
        "client": _client(f) or None,
        "org_id": f.str_(ORG_ATTRIBUTE) or _resource_str(span, ORG_ATTRIBUTE),
        "api_key_id": None if api_key is None else key_id(api_key),
        "end_user_id": end_user,
    }
    exchange["meta"] = compact(
        {
            "source_format": NAME,
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "span_name": span.name,
            "span_kind": span.kind,
            "service_name": _resource_str(span, "service.name"),
            "scope": span.scope,
            "provider": _provider(f) or None,
            "operation": f.str_("gen_ai.operation.name"),
            "server_address": f.str_("server.address"),
            "conversation_id": f.str_("gen_ai.conversation.id"),
            "response_model": reply.model,
            "content_source": content.source,
            "account_source": account_source,
            "error_type": reply.error_type,
            "status_message": span.status_message,
            "adapter_warnings": list(dict.fromkeys(warnings)) or None,
        }
    )
    return compact(exchange)


def _provider(f: Fields) -> str:
    return (f.str_("gen_ai.provider.name") or f.str_("gen_ai.system") or "").lower()


def _surface(f: Fields, options: OtelOptions) -> Surface | None:
    """The surface of an inference span; None for spans that are not an exchange."""
    operation = f.str_("gen_ai.operation.name") or f.str_("llm.request.type")
    provider = _provider(f)
    model = f.str_("gen_ai.request.model") or f.str_("gen_ai.response.model") or ""
    if operation is None:
        if not model or not provider:
            return None
    elif operation in _LEGACY_COMPLETION:
        raise unsupported(
            f.path("gen_ai.operation.name"),
            f"operation {operation!r} (the legacy Completions API) has no contract surface",
        )
    elif operation not in _INFERENCE:
        return None
    if provider in _CHAT_PROVIDERS:
        api = f.str_("openai.api.type")
        return "openai.responses" if "responses" in (api, operation) else "openai.chat"
    if provider == "anthropic" or (provider in _CLAUDE_HOSTS and "claude" in model.lower()):
        return "anthropic.messages"
    if options.default_surface is not None:
        return options.default_surface
    raise unsupported(
        f.path("gen_ai.provider.name"),
        f"provider {provider[:40]!r} has no contract surface (set a default surface to map it)",
    )


def _resource_str(span: Span, key: str) -> str | None:
    value = span.resource.get(key)
    return value if isinstance(value, str) and value else None


def _account(span: Span, f: Fields, options: OtelOptions) -> tuple[str, str]:
    names: tuple[str, ...] = ACCOUNT_ATTRIBUTES
    if options.account_attribute:
        names = (options.account_attribute, *names)
    for name in names:
        value = f.str_(name) or _resource_str(span, name)
        if value:
            return value, name
    service = _resource_str(span, "service.name")
    # SDKs name a service they were not told about "unknown_service[:process]": no identity.
    if service and not service.startswith("unknown_service"):
        return service, "service.name"
    raise missing(f.path(names[0]), "is required (or enduser.id, or a resource service.name)")


def _params(f: Fields, tools: tuple[Tool, ...]) -> Params:
    stop = maybe_json(
        f.raw("gen_ai.request.stop_sequences"), f.path("gen_ai.request.stop_sequences")
    )
    if isinstance(stop, str):
        stop = [stop]
    return Params(
        model=f.str_("gen_ai.request.model"),
        max_tokens=f.int_("gen_ai.request.max_tokens"),
        temperature=f.float_("gen_ai.request.temperature"),
        top_p=f.float_("gen_ai.request.top_p"),
        top_k=f.int_("gen_ai.request.top_k"),
        n=f.int_("gen_ai.request.choice.count"),
        seed=f.int_("gen_ai.request.seed"),
        stop=tuple(s for s in stop if isinstance(s, str)) if isinstance(stop, list) else (),
        frequency_penalty=f.float_("gen_ai.request.frequency_penalty"),
        presence_penalty=f.float_("gen_ai.request.presence_penalty"),
        stream=f.bool_("llm.is_streaming"),
        tools=tools,
    )


def _reply(f: Fields, span: Span) -> Reply:
    reasons = maybe_json(
        f.raw("gen_ai.response.finish_reasons"), f.path("gen_ai.response.finish_reasons")
    )
    if isinstance(reasons, str):
        reasons = [reasons]
    usage = Usage(
        input_tokens=_first_int(f, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        output_tokens=_first_int(f, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        cache_read=_first_int(
            f, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"
        ),
        cache_creation=_first_int(
            f,
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
        ),
        reasoning=_first_int(
            f, "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"
        ),
    )
    error_type = f.str_("error.type")
    return Reply(
        response_id=f.str_("gen_ai.response.id"),
        model=f.str_("gen_ai.response.model"),
        finish_reasons=tuple(r for r in reasons if isinstance(r, str))
        if isinstance(reasons, list)
        else (),
        usage=usage,
        error_type=error_type or ("error" if span.error else None),
        error_message=span.status_message if span.error else None,
    )


def _first_int(f: Fields, *keys: str) -> int | None:
    for key in keys:
        value = f.int_(key)
        if value is not None:
            return value
    return None


def _status(f: Fields, span: Span) -> int | None:
    code = status_code(f.raw("http.response.status_code") or f.raw("http.status_code"))
    if code is not None:
        return code
    error_type = f.raw("error.type")
    if as_int(error_type) is not None:
        return status_code(error_type)
    return None if span.error or error_type else 200


def _client(f: Fields) -> JSONObj:
    def first(*keys: str) -> str | None:
        for key in keys:
            value = f.str_(key)
            if value:
                return value
        return None

    country = first("client.geo.country.iso_code", "geo.country.iso_code")
    return compact(
        {
            "ip": first("client.address", "http.client_ip", "net.sock.peer.addr", "net.peer.ip"),
            "user_agent": first("user_agent.original", "http.user_agent"),
            "country": country.upper() if country else None,
            "tls_fingerprint": first("tls.client.ja4", "tls.client.ja3"),
        }
    )
