"""The store's one fixed Arrow schema: what an ingested exchange keeps.

Raw prompt text, IPs and key ids are customers' data, so by default the store keeps only
what later stages need: normalised parameters, shapes, sizes, and keyed 64-bit hashes
(``distillguard.hashing``). The four ``*_text`` columns are filled only when the user asks
for raw text (``keep_text``). Each field's metadata ``doc`` says what it holds; the
reference table in docs/store.md is generated from it.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

SCHEMA_VERSION: Final = 1

_STR = pa.string()
_I64 = pa.int64()
_I32 = pa.int32()
_F64 = pa.float64()
_BOOL = pa.bool_()


def _f(name: str, type_: pa.DataType, doc: str) -> pa.Field:
    return pa.field(name, type_, metadata={"doc": doc})


FIELDS: Final[tuple[pa.Field, ...]] = (
    # identity and time
    _f("id", _STR, "exchange id (unique after de-duplication)"),
    _f("ts", pa.timestamp("us", tz="UTC"), "request arrival time, UTC"),
    _f("account_id", _STR, "customer account (kept: the unit every verdict is about)"),
    _f("org_id", _STR, "organisation of the account"),
    _f("api_key_hash", _I64, "keyed hash of api_key_id"),
    _f("end_user_hash", _I64, "keyed hash of the customer's end-user id"),
    _f("surface", _STR, "openai.chat, openai.responses or anthropic.messages"),
    _f("model", _STR, "request.model"),
    _f("status", _I32, "HTTP status returned to the client"),
    _f("latency_ms", _F64, "request to end of response, ms"),
    # client and network
    _f("ip_hash", _I64, "keyed hash of the client IP"),
    _f("ip_prefix_hash", _I64, "keyed hash of the client network (IPv4 /24, IPv6 /48)"),
    _f("asn", _I64, "autonomous system number"),
    _f("asn_org", _STR, "autonomous system organisation"),
    _f("country", _STR, "client country, ISO 3166-1 alpha-2"),
    _f("user_agent_family", _STR, "user agent without versions (e.g. OpenAI/Python)"),
    _f("user_agent_hash", _I64, "keyed hash of the full user agent"),
    _f("tls_fingerprint", _STR, "TLS client fingerprint (e.g. JA4)"),
    # conversation shape
    _f("n_messages", _I32, "input items: messages, tool calls and tool results"),
    _f("n_user_turns", _I32, "user messages"),
    _f("n_assistant_turns", _I32, "assistant messages in the input (earlier turns)"),
    _f("n_tool_calls_in", _I32, "tool calls inside input assistant turns"),
    _f("n_tool_results", _I32, "tool results in the input"),
    _f("n_images", _I32, "image parts in the input"),
    _f("images_hash", _I64, "keyed hash of the sorted image references"),
    _f(
        "layout",
        _STR,
        "role sequence, one letter per item: s system, u user, a assistant, "
        "c tool call, t tool result (first 48, then +N)",
    ),
    _f("continues", _BOOL, "continues an earlier exchange (prior turns or previous_response_id)"),
    # text, as hashes and sizes
    _f("system_hash", _I64, "keyed hash of the normalised system prompt"),
    _f("system_chars", _I32, "system prompt length, characters"),
    _f("prompt_hash", _I64, "keyed hash of the normalised last user message"),
    _f("prompt_chars", _I32, "last user message length, characters"),
    _f("input_chars", _I32, "all input text, characters"),
    _f("prefix_fp", _I64, "hash of the first words of the last user message, content masked"),
    _f("suffix_fp", _I64, "hash of the last words of the last user message, content masked"),
    _f("skeleton_fp", _I64, "hash of the line heads of the last user message, content masked"),
    _f(
        "script",
        _STR,
        "dominant writing system of the prompt: latin, cjk, cyrillic, arabic, "
        "devanagari, other, none",
    ),
    # tools
    _f("n_tools", _I32, "tools declared"),
    _f("tools_hash", _I64, "keyed hash of the canonical tool schemas"),
    _f("tool_names", pa.list_(_STR), "declared tool names, sorted"),
    _f("computer_tool", _BOOL, "a computer-use tool is declared"),
    _f("tool_choice", _STR, "tool_choice mode"),
    # parameters
    _f("param_keys", _STR, "sorted top-level request keys, comma-separated"),
    _f("max_tokens", _I64, "output cap under any of its names"),
    _f(
        "max_tokens_field",
        _STR,
        "which name carried it: max_tokens, max_completion_tokens, max_output_tokens",
    ),
    _f("temperature", _F64, "sampling temperature"),
    _f("top_p", _F64, "nucleus sampling"),
    _f("top_k", _I64, "top-k sampling (Anthropic)"),
    _f("n", _I32, "completions requested"),
    _f("logprobs", _BOOL, "log-probabilities requested"),
    _f("top_logprobs", _I32, "alternatives per token requested"),
    _f("reasoning_effort", _STR, "reasoning effort requested"),
    _f("thinking_type", _STR, "Anthropic thinking type (enabled, disabled, adaptive)"),
    _f("thinking_budget", _I64, "thinking budget tokens"),
    _f("stream", _BOOL, "streamed response"),
    _f("response_format", _STR, "structured-output format type"),
    # response
    _f(
        "finish_reason",
        _STR,
        "normalised: stop, length, tool_calls, content_filter, refusal, error, other",
    ),
    _f("n_choices", _I32, "choices returned"),
    _f("response_chars", _I32, "response text length, characters"),
    _f("response_hash", _I64, "keyed hash of the response text"),
    _f("reasoning_chars", _I32, "reasoning / thinking text returned, characters"),
    _f("reasoning_returned", _BOOL, "reasoning / thinking content (or a summary) was returned"),
    _f("n_tool_calls_out", _I32, "tool calls in the response"),
    _f("input_tokens", _I64, "usage: input tokens"),
    _f("output_tokens", _I64, "usage: output tokens"),
    _f("reasoning_tokens", _I64, "usage: reasoning tokens"),
    _f("cached_tokens", _I64, "usage: cached input tokens"),
    # signals computed from the text while it is at hand (the text may not be kept)
    _f(
        "text_rules",
        pa.list_(_STR),
        "ids of the text rules that fired on the prompt or "
        "system prompt (rule files under distillguard/rules)",
    ),
    # bookkeeping
    _f("warnings", pa.list_(_STR), "fields that were present but unusable, as reason:field"),
    _f("meta_json", _STR, "the record's meta object as JSON"),
    _f("source_file", _STR, "input file the record came from"),
    _f("source_line", _I64, "line (JSON Lines) or row (Parquet) in that file"),
    # raw text: only with keep_text
    _f("system_text", pa.large_string(), "system prompt (keep_text only)"),
    _f("prompt_text", pa.large_string(), "last user message (keep_text only)"),
    _f("response_text", pa.large_string(), "response text (keep_text only)"),
    _f("reasoning_text", pa.large_string(), "reasoning / thinking text (keep_text only)"),
)

EXCHANGE_SCHEMA: Final = pa.schema(FIELDS, metadata={"distillguard.schema": str(SCHEMA_VERSION)})
COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS)
TEXT_COLUMNS: Final = ("system_text", "prompt_text", "response_text", "reasoning_text")
