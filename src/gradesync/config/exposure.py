"""What a configuration exposes on the network: plain ``http://`` and unchecked certificates.

Student grades are FERPA records and the Learn secret opens every gradebook, so each such
setting is logged once at start-up, saying what crosses the network unprotected. Loopback
addresses (a local proxy, the simulator) are exempt: nothing leaves the machine.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gradesync.config.settings import Settings
from gradesync.config.sinks import SisSinkConfig, WebhookSinkConfig

_LEARN = "the Learn client secret, its access tokens and every grade read"
_WEBHOOK = "grade events and their signatures"
_SIS = "grades written to the SIS and its credentials"


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain(url: str | None) -> bool:
    return url is not None and url.lower().startswith("http://") and not is_loopback(url)


def exposures(settings: Settings) -> list[tuple[str, str]]:
    """``(dotted key, what it exposes)`` for every setting that sends data unprotected."""
    found: list[tuple[str, str]] = []
    learn_url = str(settings.learn.base_url)
    if _plain(learn_url):
        found.append(("learn.base_url", f"plain http: {_LEARN} cross the network unencrypted"))
    if not settings.learn.verify_tls and not is_loopback(learn_url):
        found.append(
            (
                "learn.verify_tls",
                f"Learn's certificate is not checked: {_LEARN} can be read by "
                "anyone who can pose as the server",
            )
        )
    for sink in settings.sinks:
        where = f"sinks.{sink.name}"
        if isinstance(sink, WebhookSinkConfig):
            if _plain(sink.url):
                found.append((f"{where}.url", f"plain http: {_WEBHOOK} cross unencrypted"))
            if not sink.verify_tls and not is_loopback(sink.url):
                found.append(
                    (
                        f"{where}.verify_tls",
                        f"the receiver's certificate is not checked: "
                        f"{_WEBHOOK} go to whoever poses as it",
                    )
                )
        elif isinstance(sink, SisSinkConfig):
            urls = {
                "base_url": sink.base_url,
                "gradesjourney_base": sink.gradesjourney_base,
                "oauth.token_url": sink.oauth.token_url if sink.oauth else None,
            }
            for key, url in urls.items():
                if _plain(url):
                    found.append((f"{where}.{key}", f"plain http: {_SIS} cross unencrypted"))
    return found
