"""Sinks: where events go. The Sink protocol, the sinks, and delivery from the outbox."""

from gradesync.sinks.base import Outcome, Sink

__all__ = ["Outcome", "Sink"]
