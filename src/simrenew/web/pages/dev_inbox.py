"""The developer inbox: in embedded mode, SMS and e-mail are written to the database
instead of being sent, and this page shows them, so that a newcomer can finish every
flow in the browser (read the login code, see the confirmation SMS).

It exists only while the SMS channel is the developer inbox; with a real gateway it
is a plain 404, so a production site never lists anyone's messages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from simrenew.domain.cards import normalize_number
from simrenew.domain.errors import InvalidNumber
from simrenew.web.pages.page import PageDep

router = APIRouter(include_in_schema=False)

DEV_INBOX = "dev_inbox"
LIMIT = 50


def recipient_key(text: str) -> str | None:
    """The filter as stored: a phone number in E.164 when it is one ("5123 4567" finds
    +85251234567), else the text as typed (an e-mail address); None for no filter."""
    text = text.strip()
    if not text:
        return None
    try:
        return normalize_number(text)
    except InvalidNumber:
        return text


@router.get("/dev/inbox")
def show_inbox(page: PageDep, recipient: Annotated[str, Query(max_length=254)] = "") -> Response:
    if page.app.settings.sms_channel != DEV_INBOX:
        raise HTTPException(status_code=404)
    messages = page.app.inbox.list(recipient=recipient_key(recipient), limit=LIMIT)
    return page.render(
        "dev_inbox.html", messages=messages, recipient=recipient.strip(), limit=LIMIT
    )
