"""The landing queue: bounded, durable, at-least-once storage between ingress and the lake."""

from pipeline_defs.landing.envelope import decode_envelope, encode_envelope
from pipeline_defs.landing.queue import LandingQueue, Lease, QueueFull, QueueStats, batch_id_for

__all__ = [
    "LandingQueue",
    "Lease",
    "QueueFull",
    "QueueStats",
    "batch_id_for",
    "decode_envelope",
    "encode_envelope",
]
