"""Tokens and password hashes.

A token is 32 random bytes (URL-safe base64) with a prefix: `sb_` for a person's, `sbi_` for an
integration's, `sbs_` a session cookie's, `sbv_` an invitation's. Only its SHA-256 is stored:
a token this random needs no slow hash, and a copy of the database gives nobody a token.
Passwords are chosen by people, so they get a slow, salted hash: argon2id (argon2-cffi).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PERSON_TOKEN, INTEGRATION_TOKEN, SESSION_TOKEN, INVITATION_TOKEN = "sb_", "sbi_", "sbs_", "sbv_"
TOKEN_PREFIXES = (PERSON_TOKEN, INTEGRATION_TOKEN, SESSION_TOKEN, INVITATION_TOKEN)
MIN_PASSWORD_LENGTH = 10

_HASHER = PasswordHasher()
# Verified against when the e-mail is unknown, so both failures take as long.
_DUMMY_HASH = _HASHER.hash("an unknown account has no password")


def new_token(prefix: str = PERSON_TOKEN) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# An argon2 check takes tens of milliseconds of CPU by design. A service that signs people in
# also answers look-ups and reads Kafka: its checks run in threads (argon2-cffi lets go of the
# GIL), two at a time at most, so a burst of sign-ins never stalls its event loop.
_PASSWORD_WORK = asyncio.Semaphore(2)


async def password_matches(password_hash: str | None, password: str) -> bool:
    """`verify_password` off the event loop."""
    async with _PASSWORD_WORK:
        return await asyncio.to_thread(verify_password, password_hash, password)


async def new_password_hash(password: str) -> str:
    """`hash_password` off the event loop."""
    async with _PASSWORD_WORK:
        return await asyncio.to_thread(hash_password, password)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "a password does not start or end with spaces"
    return None
