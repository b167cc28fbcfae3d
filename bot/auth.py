"""Request authentication for the HTTP API: ``--auth-token`` (``?token=``) and ``--jwt-secret`` (Bearer).

JWTs are verified with HMAC-SHA256 only: the algorithm is pinned, so a token that says ``alg: none``
(or any other algorithm) is refused. As in Rasa, a JWT whose ``user.role`` is ``admin`` may use every
endpoint, and one whose ``user.role`` is ``user`` only its own conversation
(``user.username`` = the conversation id).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from bot.errors import KefuError

SUPPORTED_JWT_ALGORITHMS = ("HS256",)


class AuthError(KefuError):
    """Authentication failed (401) or the credentials do not cover this request (403)."""

    def __init__(self, message: str, status: int = 401) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


def _b64decode(part: str) -> bytes:
    padded = part + "=" * (-len(part) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise AuthError("the JWT is not valid base64url") from exc


def _utf8(text: str) -> bytes:
    """Bytes to compare in constant time: ``hmac.compare_digest`` refuses non-ASCII strings (``?token=%C3%A9``)."""
    return text.encode("utf-8", "surrogatepass")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_jwt(payload: dict[str, Any], secret: str) -> str:
    """An HS256 JWT for ``payload`` (for tests and scripts)."""
    header = _b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64encode(signature)}"


def decode_jwt(token: str, secret: str, algorithm: str = "HS256", leeway: float = 0.0) -> dict[str, Any]:
    """Verify an HS256 JWT and return its payload; raises :class:`AuthError`."""
    if algorithm not in SUPPORTED_JWT_ALGORITHMS:
        raise AuthError(f"JWT algorithm '{algorithm}' is not supported (use one of {SUPPORTED_JWT_ALGORITHMS})")
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("the JWT must have three dot-separated parts")
    try:
        header = json.loads(_b64decode(parts[0]))
        payload = json.loads(_b64decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuthError("the JWT header or payload is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != algorithm:
        raise AuthError(f"the JWT must be signed with {algorithm}")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(parts[2])):
        raise AuthError("the JWT signature is invalid")
    if not isinstance(payload, dict):
        raise AuthError("the JWT payload must be a JSON object")
    now = time.time()
    if isinstance(payload.get("exp"), (int, float)) and now > payload["exp"] + leeway:
        raise AuthError("the JWT has expired")
    if isinstance(payload.get("nbf"), (int, float)) and now + leeway < payload["nbf"]:
        raise AuthError("the JWT is not valid yet")
    return payload


def check_request(
    *, token: str | None, authorization: str | None, conversation_id: str | None,
    auth_token: str | None, jwt_secret: str | None, jwt_method: str = "HS256",
) -> None:
    """Raise :class:`AuthError` unless the request may go on (nothing configured: everyone may)."""
    if auth_token is None and jwt_secret is None:
        return
    if auth_token is not None and token is not None and hmac.compare_digest(_utf8(token), _utf8(auth_token)):
        return
    if jwt_secret is not None and authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise AuthError("the Authorization header must be 'Bearer <JWT>'")
        payload = decode_jwt(credentials.strip(), jwt_secret, jwt_method)
        user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
        role = user.get("role")
        if role == "admin":
            return
        if role == "user" and conversation_id is not None and user.get("username") == conversation_id:
            return
        raise AuthError("this token does not give access to this resource", status=403)
    raise AuthError("authentication required: pass ?token=... or an 'Authorization: Bearer <JWT>' header")
