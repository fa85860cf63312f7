"""What keeps the pages safe to use: CSRF tokens and the response headers.

CSRF uses a signed double submit: a random ``__Host-simrenew_csrf`` cookie, and in
every form an HMAC of it under the server's secret. A cross-site form can neither
read the cookie nor compute the HMAC, and the cookie is HttpOnly, so even a page
script cannot lift it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

CSRF_COOKIE = "__Host-simrenew_csrf"
CSRF_FIELD = "csrf_token"
LANGUAGE_COOKIE = "simrenew_lang"


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(key: bytes, cookie_value: str) -> str:
    return hmac.new(key, b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_valid(key: bytes, cookie_value: str | None, submitted: str | None) -> bool:
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(csrf_token(key, cookie_value), submitted)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_headers(*, form_targets: tuple[str, ...], private: bool) -> dict[str, str]:
    """Headers of every page. No inline script or style is allowed: the pages load
    one stylesheet and at most one script from ``/static``. Forms may post to this
    site and redirect to a provider's hosted checkout (``form_targets``)."""
    csp = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "form-action 'self' " + " ".join(form_targets),
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": csp.replace("'self' ;", "'self';"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if private:
        headers["Cache-Control"] = "no-store"
    return headers
