"""Outliving broker outages: the long-running loops (audit writer, inbox client) retry a failed
round with exponential backoff (0.5 s doubling to 10 s, jittered) and log once per state change — once
when the broker goes away, once when it is back — never exiting on a transport error.
Cancellation of the caller (shutdown) is not an error: it propagates at once. The clients those
loops open are built with the long-running clients' options (producers/failover.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError

from schemas.errors import TransportError

__all__ = ["TRANSIENT", "backoff", "keep_running", "retried", "stop_quietly"]

logger = logging.getLogger(__name__)

# what a broker outage raises: aiokafka's own errors, sockets, timeouts, and the project's retriable
# transport errors (schemas.errors.TransportError: PublishError, ReadError, e.g. a directory read)
TRANSIENT: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError, TransportError)


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failed rounds in a row."""
    wait: float = min(10.0, 0.5 * 2.0 ** min(failures - 1, 5))
    return wait + random.uniform(0, 0.5)


async def keep_running(
    name: str,
    round_: Callable[[Callable[[], None]], Awaitable[None]],
    stop: asyncio.Event,
    log: logging.Logger = logger,
) -> None:
    """Run ``round_(reached)`` until ``stop`` is set; after a transient error wait (0.5 s doubling
    to 10 s) and run it again. A round calls ``reached()`` once the broker answered it (its
    clients started): that ends the outage (one line) and resets the backoff, so the next outage
    is logged again, however long the round then runs."""
    failures = 0

    def reached() -> None:
        nonlocal failures
        if failures:
            log.warning("%s: broker reachable again after %d failed attempt(s)", name, failures)
        failures = 0

    while not stop.is_set():
        try:
            await round_(reached)
            reached()
        except TRANSIENT as exc:
            failures += 1
            _log_failure(log, name, failures, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff(failures))


T = TypeVar("T")


async def retried(
    name: str,
    call: Callable[[], Awaitable[T]],
    log: logging.Logger = logger,
    errors: tuple[type[BaseException], ...] = TRANSIENT,
) -> T:
    """``call()`` until it returns, waiting out ``errors`` (transient ones) with backoff (one log
    line when the broker goes away, one when it is back); a cancellation propagates at once."""
    failures = 0
    while True:
        try:
            result = await call()
        except errors as exc:
            failures += 1
            _log_failure(log, name, failures, exc)
            await asyncio.sleep(backoff(failures))
            continue
        if failures:
            log.warning("%s: broker reachable again after %d failed attempt(s)", name, failures)
        return result


def _log_failure(log: logging.Logger, name: str, failures: int, exc: BaseException) -> None:
    """One error line when the broker goes away; later failures of the same outage at debug."""
    if failures == 1:
        log.error("%s: %r; retrying with backoff until the broker is back", name, exc)
    else:
        log.debug("%s: still failing (%d): %r", name, failures, exc)


async def stop_quietly(stop: Callable[[], Awaitable[None]], what: str) -> None:
    """Stop a client after an error without letting its own failure (a transport error, or the
    CancelledError aiokafka raises from inside ``stop()`` after a lost connection) replace the
    error being handled; a cancellation of our own task still propagates."""
    try:
        await stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        logger.debug("%s: stop() was cancelled inside the client; ignored", what)
    except Exception as exc:  # the client is being dropped anyway
        logger.debug("%s: stop() failed: %r", what, exc)
