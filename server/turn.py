"""ICE servers as a caller may see them: TURN credentials only for signed-in users, short-lived.

With `turn_secret` set, every TURN entry of `ice_servers` gets a fresh credential by the TURN REST
scheme (coturn's `use-auth-secret` / `static-auth-secret`): the username is `<expiry>:<who>` and
the credential is base64(HMAC-SHA1(secret, username)). The TURN server checks the HMAC and the
expiry itself, so a credential copied out of a page stops working after `turn_ttl_s`, and the
shared secret never leaves the server. Without `turn_secret`, the static entries are used as
configured (and still only shown to signed-in users).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from .config import Settings


def _is_turn(entry: dict[str, Any]) -> bool:
    urls = entry.get("urls", [])
    return any(str(u).startswith(("turn:", "turns:")) for u in ([urls] if isinstance(urls, str) else urls))


def turn_credential(secret: str, username: str) -> str:
    """The TURN REST credential for `username` (coturn computes the same)."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def ice_servers_for(settings: Settings, who: str, now: float) -> list[dict[str, Any]]:
    """The RTCIceServer dicts for one peer (`who`: a user id, or the node itself)."""
    if not settings.turn_secret:
        return [dict(entry) for entry in settings.ice_servers]
    username = f"{int(now + settings.turn_ttl_s)}:{who}"
    credential = turn_credential(settings.turn_secret, username)
    return [{**entry, "username": username, "credential": credential} if _is_turn(entry) else dict(entry)
            for entry in settings.ice_servers]
