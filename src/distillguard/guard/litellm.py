"""The guard as a LiteLLM guardrail: ``DistillguardGuardrail``.

Optional: needs ``pip install 'distillguard[litellm]'`` (LiteLLM 1.110.2, the version this was
checked against). ``import distillguard.guard`` never imports this module nor LiteLLM.

In the LiteLLM proxy's ``config.yaml``::

    guardrails:
      - guardrail_name: distillguard
        litellm_params:
          guardrail: distillguard.guard.litellm.DistillguardGuardrail
          mode: [pre_call, post_call]
          default_on: true          # else only requests that ask for it are guarded
          watchlist: hunt-out       # optional: policy, watchlist, log_dir, redis_url
          log_dir: guard-log

Settings not given fall back to ``$DISTILLGUARD_POLICY``, ``$DISTILLGUARD_WATCHLIST``,
``$DISTILLGUARD_LOG_DIR``, ``$DISTILLGUARD_REDIS_URL`` (see ``middleware.guard_from_env``); the
hash key comes from ``$DISTILLGUARD_HASH_KEY``. In Python, pass a ``Guard`` instead.

What the proxy calls, as LiteLLM 1.110.2 declares and calls it (``CustomLogger`` and
``ProxyLogging`` in ``litellm/proxy/utils.py``):

``async_pre_call_hook(user_api_key_dict, cache, data, call_type)``
    Chat calls (``completion``/``acompletion``) are the ``openai.chat`` surface; Responses and
    Anthropic Messages calls are guarded as ``openai.responses`` and ``anthropic.messages``;
    other calls (embeddings, images ...) pass. The request as the guard sees it is the API's
    own fields of ``data`` (never LiteLLM's internals, credentials or headers). The account is
    taken from ``user_api_key_dict`` in ``account_by`` order: its ``user_id``, then its
    ``team_id``, then its key (the key map of the policy, else ``key:`` and the first 24 hex
    digits of the key's SHA-256). The key is only ever named by its SHA-256: LiteLLM already
    hashes ``sk-`` keys into ``token``; any other key value is hashed here. A request that is
    not served raises ``GuardRefusal``, a LiteLLM ``GuardrailRaisedException``: LiteLLM's
    ``is_guardrail_intervention`` takes it for a guardrail's block, not a provider error, and
    its exception mapping passes it through unchanged. The proxy answers with its
    ``status_code`` (429 with ``Retry-After`` for a throttle, 403 for verify and block, 503
    when the state is down and the policy fails closed) and its ``headers``. A served request
    is degraded in place in ``data`` (``actions.degrade_request``) and, for a watermark, the
    ``x-distillguard-watermark-key`` header is put in ``data["extra_headers"]`` (one sent by
    the client is removed). The decision is stashed, as JSON, in the request's LiteLLM metadata
    under ``distillguard`` (its ``exchange_id`` names the assessment the later hooks finish).
    A request that is not a valid request of its surface is refused with 400, as the reverse
    proxy does.

``async_post_call_success_hook(data, user_api_key_dict, response)``
    Degrades the ``ModelResponse`` in place (raw reasoning: ``reasoning_content``,
    ``thinking_blocks``, ``reasoning_items`` and reasoning in ``provider_specific_fields`` are
    removed, or the first replaced by a one-line note when the policy says ``summary``;
    ``logprobs`` are removed) and calls ``Guard.finish`` with ``response.model_dump()``.
    Dict responses (Anthropic Messages) are degraded with ``actions.degrade_response``, other
    response objects (Responses) as JSON and rebuilt with ``model_validate``.

``async_post_call_streaming_iterator_hook(user_api_key_dict, response, request_data)``
    Degrades each ``ModelResponseStream`` chunk as it passes (reasoning deltas, logprobs) and
    finishes the exchange with the chunks reassembled when the stream ends (499 when the
    client went away, 502 when the stream broke). When this hook is defined, the proxy does
    not call the success hook for streams, so each exchange is finished once.

``async_post_call_failure_hook(request_data, original_exception, user_api_key_dict, ...)``
    Finishes (logs) an assessed request that failed later, with the error's status.

The hooks also run in the LiteLLM SDK (``litellm.acompletion`` with this guardrail in
``litellm.callbacks`` and ``guardrails=[name]``): LiteLLM calls them as deployment hooks, the
account coming from ``metadata["user_api_key_user_id"]`` and friends.

Not done: the class does not implement ``apply_guardrail``. LiteLLM routes a guardrail that
does through its text-only unified hook (``texts``, ``images``, ``tools`` ...), which can
neither change request parameters nor remove reasoning from a response object, and which
needs ``litellm[proxy]`` on the SDK path. ``use_native_lifecycle_hooks`` is set so that a
subclass adding ``apply_guardrail`` keeps these hooks. Streams of Responses and Anthropic
Messages calls are refused or degraded on the request side and logged, but their events are
passed unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

try:
    from litellm.exceptions import GuardrailRaisedException
    from litellm.integrations.custom_guardrail import CustomGuardrail
    from litellm.types.guardrails import GuardrailEventHooks
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "distillguard.guard.litellm needs LiteLLM: pip install 'distillguard[litellm]'"
    ) from exc

from ..errors import RecordError
from .actions import DROP, NOTE, EventDegrader, degrade_request, degrade_response
from .engine import ANONYMOUS, Assessment, Guard, key_hash, new_exchange_id
from .policy import Degrade
from .responses import WATERMARK_HEADER, watermark_key_id
from .sse import Reassembler, output_tokens

if TYPE_CHECKING:
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.types.utils import CallTypesLiteral, LLMResponseTypes, ModelResponseStream

__all__ = ["METADATA_KEY", "SURFACE_OF_CALL", "DistillguardGuardrail", "GuardRefusal"]

log = logging.getLogger(__name__)

SURFACE_OF_CALL: Final[Mapping[str, str]] = {
    "completion": "openai.chat",
    "acompletion": "openai.chat",
    "responses": "openai.responses",
    "aresponses": "openai.responses",
    "anthropic_messages": "anthropic.messages",
    "aanthropic_messages": "anthropic.messages",
}
"""The LiteLLM call types that are guarded, and the surface each is assessed as."""
METADATA_KEY: Final = "distillguard"
"""Where the decision is stashed in the request's LiteLLM metadata."""
AccountSource = Literal["user_id", "team_id", "org_id", "key"]
DEFAULT_ACCOUNT_BY: Final[tuple[AccountSource, ...]] = ("user_id", "team_id", "key")

_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "openai.chat": frozenset(
        {
            "model",
            "messages",
            "functions",
            "function_call",
            "temperature",
            "top_p",
            "n",
            "stream",
            "stream_options",
            "stop",
            "max_tokens",
            "max_completion_tokens",
            "modalities",
            "prediction",
            "audio",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "user",
            "response_format",
            "seed",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "logprobs",
            "top_logprobs",
            "reasoning_effort",
            "thinking",
            "web_search_options",
            "service_tier",
            "verbosity",
            "store",
        }
    ),
    "openai.responses": frozenset(
        {
            "model",
            "input",
            "instructions",
            "max_output_tokens",
            "reasoning",
            "include",
            "top_logprobs",
            "tools",
            "tool_choice",
            "text",
            "temperature",
            "top_p",
            "stream",
            "previous_response_id",
            "store",
            "truncation",
            "parallel_tool_calls",
            "user",
        }
    ),
    "anthropic.messages": frozenset(
        {
            "model",
            "messages",
            "system",
            "max_tokens",
            "thinking",
            "temperature",
            "top_p",
            "top_k",
            "stop_sequences",
            "stream",
            "tools",
            "tool_choice",
        }
    ),
}
"""The API's own request fields, per surface: what the guard assesses and logs."""
_STATUS: Final = {"throttle": 429, "verify": 403, "block": 403}
_MESSAGES: Final = {
    "throttle": "too many requests for this account; retry later",
    "verify": "this account must complete verification before it can continue",
    "block": "this account is not allowed to use this API",
}
_KINDS: Final = {
    "throttle": "rate_limit_error",
    "verify": "permission_error",
    "block": "permission_error",
}
_REASONING: Final = ("reasoning_content", "reasoning", "thinking_blocks", "reasoning_items")
_HASHED: Final = re.compile(r"(?:hashed-jwt-)?([0-9a-f]{64})")
_MAX_PENDING: Final = 10_000


class GuardRefusal(GuardrailRaisedException):  # type: ignore[misc, unused-ignore]
    """A request the guard does not serve.

    LiteLLM's proxy (``handle_llm_api_exception``) answers an exception with its
    ``status_code`` and ``headers`` and takes the error ``type`` from ``type``; ``code`` is
    the guard's machine-readable code (``rate_limited``, ``verification_required``,
    ``access_denied``), also given, with the seconds to wait, in ``provider_specific_fields``.
    """

    def __init__(
        self,
        *,
        guardrail_name: str | None,
        status_code: int,
        message: str,
        code: str,
        kind: str,
        retry_after: int | None = None,
        blocked: bool = True,
    ) -> None:
        super().__init__(
            guardrail_name=guardrail_name,
            message=message,
            should_wrap_with_default_message=False,
            status_code=status_code,
            blocked_content=blocked,
        )
        self.status_code: int = status_code
        self.message: str = message
        self.code: str = code
        self.type: str = kind
        self.param: str | None = None
        self.retry_after: int | None = retry_after
        self.headers: dict[str, str] = (
            {"retry-after": str(retry_after)} if retry_after is not None else {}
        )
        fields: dict[str, Any] = {"code": code}
        if retry_after is not None:
            fields["retry_after"] = retry_after
        self.provider_specific_fields: dict[str, Any] = fields


class DistillguardGuardrail(CustomGuardrail):  # type: ignore[misc, unused-ignore]
    """Distillguard's guard inside LiteLLM (see the module docstring)."""

    use_native_lifecycle_hooks: ClassVar[bool] = True

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        policy: str | None = None,
        watchlist: str | None = None,
        log_dir: str | None = None,
        redis_url: str | None = None,
        account_by: Sequence[AccountSource] = DEFAULT_ACCOUNT_BY,
        max_pending: int = _MAX_PENDING,
        guardrail_name: str = "distillguard",
        event_hook: Any = None,
        default_on: bool = True,
        **kwargs: Any,
    ) -> None:
        hooks = [GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call]
        super().__init__(
            guardrail_name=guardrail_name,
            supported_event_hooks=hooks,
            event_hook=event_hook if event_hook is not None else hooks,
            default_on=default_on,
            **kwargs,
        )
        unknown = [s for s in account_by if s not in ("user_id", "team_id", "org_id", "key")]
        if unknown or not account_by:
            raise ValueError(f"account_by: expected user_id, team_id, org_id or key: {unknown}")
        if max_pending < 1:
            raise ValueError("max_pending must be positive")
        if guard is None:
            from .middleware import guard_from_env

            given = dict(policy=policy, watchlist=watchlist, log_dir=log_dir, redis_url=redis_url)
            guard = guard_from_env(**{k: v for k, v in given.items() if v is not None})
        self.guard = guard
        self.account_by: tuple[AccountSource, ...] = tuple(account_by)
        self.max_pending = max_pending
        self._pending: OrderedDict[str, tuple[str, Assessment]] = OrderedDict()
        self.dropped = 0
        """Assessments forgotten unfinished because more than ``max_pending`` were open."""

    # -- identity ------------------------------------------------------------------------

    def identify(self, user_api_key_dict: Any) -> tuple[str, str | None]:
        """The account and the SHA-256 of the key of a request (``UserAPIKeyAuth``)."""
        hashed: str | None = None
        for name in ("token", "api_key"):
            value = getattr(user_api_key_dict, name, None)
            if isinstance(value, str) and value:
                found = _HASHED.fullmatch(value)
                hashed = found.group(1) if found else key_hash(value)
                break
        for source in self.account_by:
            if source == "key":
                if hashed is not None:
                    return self.guard.keys.get(hashed) or f"key:{hashed[:24]}", hashed
                continue
            value = getattr(user_api_key_dict, source, None)
            if isinstance(value, str) and value:
                return value[:256], hashed
        return ANONYMOUS, hashed

    # -- hooks ---------------------------------------------------------------------------

    async def async_pre_call_hook(
        self,
        user_api_key_dict: UserAPIKeyAuth,
        cache: DualCache,
        data: dict[str, Any],
        call_type: CallTypesLiteral,
    ) -> dict[str, Any] | None:
        surface = SURFACE_OF_CALL.get(str(call_type))
        if surface is None:
            return None
        metadata = _metadata(data)
        account, hashed = self.identify(user_api_key_dict)
        end_user = getattr(user_api_key_dict, "end_user_id", None)
        now = self.guard.clock()
        record: dict[str, Any] = {
            "id": new_exchange_id(),
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
            "account_id": account,
            "api_key_id": hashed,
            "end_user_id": end_user if isinstance(end_user, str) and end_user else None,
            "surface": surface,
            "request": {k: _plain(v) for k, v in data.items() if k in _FIELDS[surface]},
            "client": {
                "ip": _text(metadata.get("requester_ip_address")),
                "user_agent": _text(metadata.get("user_agent")),
            },
        }
        try:
            assessment = await self.guard.assess_record(record, now)
        except RecordError as exc:
            raise GuardRefusal(
                guardrail_name=self.guardrail_name,
                status_code=400,
                message=f"the request is not valid: {exc}",
                code="invalid_request",
                kind="invalid_request_error",
                blocked=False,
            ) from None
        decision = assessment.decision
        metadata[METADATA_KEY] = {"exchange_id": record["id"], **decision.to_json()}
        if not decision.served:
            refusal = self._refusal(assessment)
            await self.guard.finish(assessment, response=None, status=refusal.status_code)
            raise refusal
        if decision.degrade is not None:
            degrade_request(surface, data, decision.degrade)
        _set_watermark(data, watermark_key_id(assessment) if decision.watermark else None)
        self._remember(record["id"], surface, assessment)
        return data

    async def async_post_call_success_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: UserAPIKeyAuth,
        response: LLMResponseTypes,
    ) -> Any:
        taken = self._take(data)
        if taken is None:
            return response
        surface, assessment = taken
        degrade = assessment.decision.degrade
        served: Any = response
        logged: dict[str, Any] | None
        if isinstance(served, dict):
            if degrade is not None:
                degrade_response(surface, served, degrade)
            logged = served
        elif surface == "openai.chat":
            if degrade is not None:
                degrade_model_response(served, degrade)
            logged = _dump(served)
        else:  # a Responses object: degraded as JSON and rebuilt
            logged = _dump(served)
            if degrade is not None and logged is not None:
                try:
                    served = type(served).model_validate(degrade_response(surface, logged, degrade))
                except Exception:
                    log.warning("distillguard: cannot degrade a %s", type(served).__name__)
                    logged = _dump(served)
        await self.guard.finish(
            assessment,
            response=logged,
            status=200,
            tokens=output_tokens(surface, logged),
        )
        return served

    async def async_post_call_streaming_iterator_hook(
        self,
        user_api_key_dict: UserAPIKeyAuth,
        response: Any,
        request_data: dict[str, Any],
    ) -> AsyncGenerator[ModelResponseStream, None]:
        taken = self._take(request_data)
        if taken is None:
            async for chunk in response:
                yield chunk
            return
        surface, assessment = taken
        degrade = assessment.decision.degrade
        chat = surface == "openai.chat"
        chunks = ChunkDegrader(degrade) if chat and degrade is not None else None
        events = EventDegrader(surface, degrade) if chat and degrade is not None else None
        whole = Reassembler(surface)
        status, error = 200, None
        try:
            async for chunk in response:
                if isinstance(chunk, dict):
                    if events is not None and events(None, chunk) == DROP:
                        continue
                    whole.add(chunk)
                else:
                    if chunks is not None:
                        chunks(chunk)
                    dumped = _dump(chunk)
                    if dumped is not None:
                        whole.add(dumped)
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            status, error = 499, "client disconnected"
            raise
        except Exception as exc:
            status, error = 502, f"stream broken: {type(exc).__name__}"
            raise
        finally:
            logged = whole.result()
            await asyncio.shield(
                self.guard.finish(
                    assessment,
                    response=logged,
                    status=status,
                    tokens=output_tokens(surface, logged),
                    error=error,
                )
            )

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        taken = self._take(request_data)
        if taken is None:
            return None
        status = getattr(original_exception, "status_code", None)
        await self.guard.finish(
            taken[1],
            response=None,
            status=status if isinstance(status, int) and 400 <= status <= 599 else 500,
            error=type(original_exception).__name__,
        )
        return None

    # -- helpers -------------------------------------------------------------------------

    def _refusal(self, assessment: Assessment) -> GuardRefusal:
        decision = assessment.decision
        name = self.guardrail_name
        if assessment.state_error is not None and decision.action == "block":
            return GuardRefusal(
                guardrail_name=name,
                status_code=503,
                message="the service cannot check this request now",
                code="unavailable",
                kind="api_error",
                blocked=False,
            )
        action = decision.action
        retry = None
        if action == "throttle" and decision.retry_after is not None:
            retry = max(1, math.ceil(decision.retry_after))
        return GuardRefusal(
            guardrail_name=name,
            status_code=_STATUS[action],
            message=_MESSAGES[action],
            code=decision.code or "access_denied",
            kind=_KINDS[action],
            retry_after=retry,
            blocked=action != "throttle",
        )

    def _remember(self, exchange_id: str, surface: str, assessment: Assessment) -> None:
        self._pending[exchange_id] = (surface, assessment)
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
            self.dropped += 1
            log.warning("distillguard: an assessed request was never finished; dropped")

    def _take(self, data: Mapping[str, Any] | None) -> tuple[str, Assessment] | None:
        """The surface and the assessment of a request, once: None when it was not assessed
        here or was finished already (a hook that runs twice finishes it once)."""
        if not isinstance(data, Mapping):
            return None
        for name in ("metadata", "litellm_metadata"):
            bucket = data.get(name)
            stash = bucket.get(METADATA_KEY) if isinstance(bucket, Mapping) else None
            if isinstance(stash, Mapping) and isinstance(stash.get("exchange_id"), str):
                return self._pending.pop(stash["exchange_id"], None)
        return None


class ChunkDegrader:
    """Degrades the ``ModelResponseStream`` chunks of one stream in place, in order."""

    def __init__(self, degrade: Degrade) -> None:
        self.degrade = degrade
        self._noted: set[Any] = set()

    def __call__(self, chunk: Any) -> None:
        summary = self.degrade.reasoning == "summary"
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            if delta is not None:
                key = getattr(choice, "index", 0)
                if _withhold(delta, summary, first=key not in self._noted):
                    self._noted.add(key)
            if self.degrade.strip_logprobs:
                _remove(choice, "logprobs")


def degrade_model_response(response: Any, degrade: Degrade) -> Any:
    """Withhold the raw reasoning of a LiteLLM ``ModelResponse`` and strip its
    log-probabilities, in place (as ``actions.degrade_response`` does to a chat body)."""
    summary = degrade.reasoning == "summary"
    for choice in getattr(response, "choices", None) or ():
        message = getattr(choice, "message", None)
        if message is not None:
            _withhold(message, summary, first=True)
        if degrade.strip_logprobs:
            _remove(choice, "logprobs")
    return response


def _withhold(message: Any, summary: bool, *, first: bool) -> bool:
    """Remove the reasoning of a ``Message`` or ``Delta``; with ``summary`` the first gets the
    note instead. True when there was reasoning."""
    had = False
    for name in _REASONING:
        if getattr(message, name, None):
            had = True
        _remove(message, name)
    fields = getattr(message, "provider_specific_fields", None)
    if isinstance(fields, dict):
        for name in [n for n in fields if n.startswith(("reasoning", "thinking"))]:
            had = had or bool(fields[name])
            del fields[name]
    if had and summary and first:
        message.reasoning_content = NOTE
    return had


def _remove(obj: Any, name: str) -> None:
    """Remove an attribute from a LiteLLM object (as LiteLLM does for absent ones), or set it
    to None when it cannot be removed."""
    if getattr(obj, name, None) is None:
        return
    try:
        delattr(obj, name)
    except AttributeError:
        setattr(obj, name, None)
    if getattr(obj, name, None) is not None:
        setattr(obj, name, None)


def _set_watermark(data: dict[str, Any], key_id: str | None) -> None:
    headers = data.get("extra_headers")
    if isinstance(headers, dict):
        for name in [n for n in headers if str(n).lower() == WATERMARK_HEADER]:
            del headers[name]
    if key_id is None:
        return
    if not isinstance(headers, dict):
        headers = data["extra_headers"] = {}
    headers[WATERMARK_HEADER] = key_id


def _metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The request's LiteLLM metadata (``litellm_metadata`` on newer routes), created if
    absent (LiteLLM's ``get_or_create_metadata_bucket``)."""
    name = "litellm_metadata" if "litellm_metadata" in data else "metadata"
    bucket = data.get(name)
    if not isinstance(bucket, dict):
        bucket = data[name] = {}
    return bucket


def _dump(value: Any) -> dict[str, Any] | None:
    dump = getattr(value, "model_dump", None)
    if dump is None:
        return None
    try:
        dumped = dump(mode="json", warnings=False)
    except Exception:  # a response object that cannot be dumped is logged without a body
        log.warning("distillguard: cannot dump a %s for the log", type(value).__name__)
        return None
    return dumped if isinstance(dumped, dict) else None


def _plain(value: Any) -> Any:
    """JSON values of a request field (LiteLLM may hold pydantic objects), copied."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    dumped = getattr(value, "model_dump", None)
    if dumped is not None:
        return _plain(dumped(mode="json", warnings=False))
    return str(value)


def _text(value: Any) -> str | None:
    return value[:512] if isinstance(value, str) and value else None
