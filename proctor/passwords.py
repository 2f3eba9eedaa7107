"""Passwords: the policy new ones must meet (activation, reset, change), and argon2id hashing.

Length over composition rules (NIST SP 800-63B): at least 10 characters, at most 1024 (argon2 input
stays bounded), not one of the 10,000 most common passwords, and not containing the SRN/username.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024
COMMON_PASSWORDS_FILE = "common_passwords.txt"

# What the pages list beside a new-password field, ticked as the user types. The browser gets these
# from GET /api/config (`policy_json`), so the rules are written here and nowhere else.
RULES = (
    ("length", f"At least {MIN_LENGTH} characters"),
    ("common", "Not a common password"),
    ("login", "Not your SRN or username"),
)


class WeakPassword(ValueError):
    """A new password the policy refuses; `message` is fit to show the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common-password list shipped next to this module (lower case; `#` lines are comments)."""
    # Read beside the module: importlib.resources fails on the editable install under Python 3.11.
    text = (Path(__file__).with_name(COMMON_PASSWORDS_FILE)).read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password(password: str, srn_or_username: str | None) -> None:
    """Raise WeakPassword if `password` may not be used by the user with that login."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    folded = password.casefold()
    login = (srn_or_username or "").strip().casefold()
    if login and login in folded:
        raise WeakPassword("The password must not contain your SRN or username.")
    if folded.strip() in common_passwords():
        raise WeakPassword("This password is too common: choose one that is hard to guess.")


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's default (RFC 9106 low-memory) parameters."""
    return PasswordHasher()


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """Synchronous (deliberately slow): call from a CLI, or via `asyncio.to_thread`."""
    return (hasher or default_hasher()).hash(password)


class Hasher:
    """argon2id off the event loop, for the login flows.

    A check that cannot succeed (no such user, no password set, a password over MAX_LENGTH) still
    does the hash work of a real one, so response times do not tell which logins exist.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or default_hasher()
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches `password_hash`; None (nothing to match) is False, as slowly."""
        if password_hash is None or len(password) > MAX_LENGTH:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
            await self._check(self._dummy_hash, password[:MAX_LENGTH])
            return False
        return await self._check(password_hash, password)

    async def _check(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than this hasher's (upgrade on login)."""
        return self._hasher.check_needs_rehash(password_hash)
def policy_json() -> dict[str, Any]:
    """The policy as the pages render it: limits for the checks they can make, and the rules' words."""
    return {"min_length": MIN_LENGTH, "max_length": MAX_LENGTH,
            "rules": [{"id": rule_id, "text": text} for rule_id, text in RULES]}
