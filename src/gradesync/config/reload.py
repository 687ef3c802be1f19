"""What a reload (SIGHUP) may change while gradesync runs, and what waits for a restart.

The sections of :data:`LIVE_SECTIONS` are applied in place, except the keys of ``[learn]`` in
:data:`RESTART_LEARN_KEYS`; every other change is logged as needing a restart and the value the
service started with stays in effect.
"""

from __future__ import annotations

from pydantic import BaseModel

from gradesync.config.settings import Settings

LIVE_SECTIONS = ("logging", "sync", "selection", "learn")
RESTART_LEARN_KEYS = ("base_url", "daily_request_budget")


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """The dotted keys whose values differ (secrets compared by value); ``sinks`` as a whole."""
    keys: list[str] = []
    for section in Settings.model_fields:
        before, after = getattr(old, section), getattr(new, section)
        if isinstance(before, BaseModel):
            keys += [
                f"{section}.{name}"
                for name in type(before).model_fields
                if getattr(before, name) != getattr(after, name)
            ]
        elif before != after:
            keys.append(section)
    return keys


def needs_restart(key: str) -> bool:
    section, _, name = key.partition(".")
    return section not in LIVE_SECTIONS or (section == "learn" and name in RESTART_LEARN_KEYS)


def effective(started: Settings, new: Settings) -> Settings:
    """``new`` with every key that needs a restart kept as the service started with it."""
    kept = {name: getattr(started, name) for name in Settings.model_fields}
    learn = new.learn.model_copy(update={k: getattr(started.learn, k) for k in RESTART_LEARN_KEYS})
    return new.model_copy(
        update={**{k: v for k, v in kept.items() if k not in LIVE_SECTIONS}, "learn": learn}
    )
