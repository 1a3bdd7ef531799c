"""Sign-in for the web app with the service's API keys, and CSRF protection for its forms.

Signing in with a key sets a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) that holds
no key: a random session id, the key's fingerprint and an expiry, signed with HMAC-SHA256. The
fingerprint is checked against the keys in force on every request, so removing a key ends its sessions.
Every form carries a CSRF token, the HMAC of the session id (or, before sign-in, of a login nonce
cookie), checked on every POST; SameSite=Strict alone would leave older browsers open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, status
from fastapi.responses import Response

from service.settings import Settings

SESSION_COOKIE = "recoup_session"
LOGIN_COOKIE = "recoup_login"
CSRF_FIELD = "csrf_token"
BAD_CSRF = "the form has expired or did not come from this site: reload the page and try again"


class NotSignedIn(Exception):
    """Raised by a page that needs a session; answered with a redirect to the sign-in page."""


@dataclass(frozen=True)
class Session:
    id: str
    key: str  # the signing key's fingerprint ("" when authentication is disabled)
    expires: float
    csrf: str


def _secret(settings: Settings, fallback: bytes) -> bytes:
    if settings.web_session_secret is not None:
        return settings.web_session_secret.get_secret_value().encode()
    if settings.auth_enabled:
        keys = "\n".join(sorted(key.get_secret_value() for key in settings.api_keys))
        return hashlib.sha256(b"recoup-web-session\n" + keys.encode()).digest()
    return fallback


class Signer:
    """Signs and checks session cookies and CSRF tokens for one app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = _secret(settings, secrets.token_bytes(32))

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self.secret, f"{purpose}\n{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def fingerprint(self, key: str) -> str:
        return self._mac("key", key)

    def matching_key(self, given: str) -> str | None:
        """The fingerprint of ``given`` when it is one of the keys in force (compared in constant time)."""
        matched = False
        for secret in self.settings.api_keys:
            matched |= hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
        return self.fingerprint(given) if matched else None

    def session_cookie(self, key_fingerprint: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(18)
        expires = time.time() + self.settings.web_session_hours * 3600
        payload = base64.urlsafe_b64encode(json.dumps([session_id, key_fingerprint, expires]).encode()).decode()
        return f"{payload}.{self._mac('session', payload)}", self._session(session_id, key_fingerprint, expires)

    def _session(self, session_id: str, key: str, expires: float) -> Session:
        return Session(session_id, key, expires, self._mac("csrf", session_id))

    def read_session(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            session_id, key, expires = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except (ValueError, TypeError):
            return None
        if time.time() > float(expires):
            return None
        if self.settings.auth_enabled:
            if not any(
                hmac.compare_digest(key, self.fingerprint(k.get_secret_value())) for k in self.settings.api_keys
            ):
                return None  # the key was removed: its sessions end
        elif key:
            return None
        return self._session(str(session_id), str(key), float(expires))

    def login_token(self, nonce: str) -> str:
        return self._mac("login", nonce)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


async def get_signer(request: Request) -> Signer:
    return request.app.state.signer


SignerDep = Annotated[Signer, Depends(get_signer)]


async def current_session(request: Request, signer: SignerDep) -> Session:
    """The signed-in session; without one the page redirects to the sign-in page."""
    session = signer.read_session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotSignedIn
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def checked_session(session: SessionDep, csrf_token: Annotated[str, Form()] = "") -> Session:
    """The session of a POST whose form carries the session's CSRF token; 403 otherwise."""
    if not csrf_token or not hmac.compare_digest(csrf_token, session.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, BAD_CSRF)
    return session


CheckedSessionDep = Annotated[Session, Depends(checked_session)]
