"""Relaying one streamed (server-sent events) answer to the client, degraded as decided.

The proxy and the ASGI middleware both hand each piece of the upstream's stream to a
``StreamRelay`` and send on what it returns:

* not degraded: the bytes as they came; the events are read on the side for the log;
* degraded: the events one by one, with what the degrade withholds taken out or replaced.
  An event that degrading leaves as it is (most are text deltas) goes on as it came,
  without being written again.

``result()`` is the message the client was sent, reassembled for the exchange log.
"""

from __future__ import annotations

from typing import Any

import orjson

from .actions import DROP, SAME, EventDegrader
from .policy import Degrade
from .sse import Event, Reassembler, Splitter, SSEError

_END = b"\n\n"


class StreamRelay:
    def __init__(self, surface: str, degrade: Degrade | None) -> None:
        self._splitter: Splitter | None = Splitter()
        self._whole = Reassembler(surface)
        self._degrader = EventDegrader(surface, degrade) if degrade is not None else None
        self.error: str | None = None
        """Why the stream stopped being read (it was still passed on), if it did."""

    def feed(self, chunk: bytes) -> bytes:
        """The bytes to send on for ``chunk`` (empty when it ends no event yet).

        Raises ``SSEError`` when a degraded stream cannot be read: what cannot be read cannot
        be degraded, so the stream must break rather than pass on. A stream that is not
        degraded is passed on as it is, and no longer read.
        """
        if self._splitter is None:
            return chunk
        try:
            events = list(self._splitter.feed(chunk))
        except SSEError as exc:
            self.error = f"stream broken: {exc}"
            self._splitter = None
            if self._degrader is not None:
                raise
            return chunk
        if self._degrader is None:
            for event in events:
                data = _json(event)
                if data is not None:
                    self._whole.add(data)
            return chunk
        return b"".join([self._degraded(event, self._degrader) for event in events])

    def _degraded(self, event: Event, degrader: EventDegrader) -> bytes:
        data = _json(event)
        if data is None:
            return event.raw + _END
        outcome = degrader(event.name, data)
        if outcome == DROP:
            return b""
        self._whole.add(data)
        if outcome == SAME:
            return event.raw + _END
        event.data = orjson.dumps(data).decode()
        return event.encode()

    def result(self) -> dict[str, Any] | None:
        """The answer as the client was sent it so far, or None when nothing usable came."""
        return self._whole.result()


def _json(event: Event) -> dict[str, Any] | None:
    if not event.data or event.data == "[DONE]":
        return None
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
