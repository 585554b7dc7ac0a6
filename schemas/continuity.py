"""Continuity, the contract both sides keep: channels and the chain position (docs/ADR 0003).

A sending product of an org (the CLI, an e-office system, the gateway) signs its envelopes in a
**channel** of its own: ``Envelope.channel`` ('' is the org's default channel), signed whenever it is
not empty. Each channel is one chain: ``sequence`` 1, 2, 3 … and ``previous_hash`` = the
``signing_hash`` of the channel's previous envelope. The bus keeps one position per (sender,
channel) and states it, sealed, in every notice it sends the sender (``Receipt.chain``, receipt.v3):
that notice is the signed source a node resyncs its state from.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.fields import Sha256

__all__ = ["CHANNEL_PATTERN", "DEFAULT_CHANNEL", "Chain", "Channel", "chain_id", "validate_channel"]

DEFAULT_CHANNEL = ""
CHANNEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


def validate_channel(value: str) -> str:
    """'' (the default channel) or 1-32 of ``a-z 0-9 . _ -``, starting with a letter or digit."""
    if value != DEFAULT_CHANNEL and CHANNEL_PATTERN.fullmatch(value) is None:
        raise ValueError("channel must be empty or 1-32 of a-z 0-9 . _ - starting with a letter or digit")
    return value


Channel = Annotated[str, AfterValidator(validate_channel)]


def chain_id(sender: str, channel: str) -> str:
    """The name of one chain in the bus's state: the sender code, then ``/channel`` when named (the
    default channel keeps the bare code, the key every earlier state was stored under)."""
    return sender if channel == DEFAULT_CHANNEL else f"{sender}/{channel}"


class Chain(BaseModel):
    """A channel's position: its last counted sequence (0: none yet) and that envelope's signing hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel = DEFAULT_CHANNEL
    sequence: int = Field(ge=0, lt=2**63)
    signing_hash: Sha256
