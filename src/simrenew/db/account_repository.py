"""Subscribers, their cards, login codes, sessions and settings (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.accounts import (
    AutoRenewSetting,
    BoundCard,
    NotificationPreferences,
    Subscriber,
)
from simrenew.domain.auth import CodePurpose, LoginCode, Session

_S = t.subscribers
_C = t.login_codes
_SE = t.sessions
_SC = t.subscriber_cards
_P = t.notification_preferences
_A = t.auto_renew_settings

# Statements on the login and card-detail paths are built once.
_SUB_BY_PHONE = select(_S).where(_S.c.phone == bindparam("phone"))
_SUB_BY_ID = select(_S).where(_S.c.id == bindparam("subscriber_id"))
_UPDATE_SUB = (
    update(_S)
    .where(_S.c.id == bindparam("b_id"))
    .values(
        email=bindparam("b_email"),
        language=bindparam("b_language"),
        anti_phishing_word=bindparam("b_word"),
    )
)
_LATEST_CODE = (
    select(_C)
    .where(_C.c.phone == bindparam("phone"), _C.c.purpose == bindparam("purpose"))
    .order_by(_C.c.created_at.desc(), _C.c.id.desc())
    .limit(1)
)
_LATEST_CODE_LOCKED = _LATEST_CODE.with_for_update()
_LOCKED_SINCE = select(func.max(_C.c.consumed_at)).where(
    _C.c.phone == bindparam("phone"),
    _C.c.purpose == bindparam("purpose"),
    _C.c.attempts >= bindparam("max_attempts"),
    _C.c.consumed_at > bindparam("after"),
)
_SUPERSEDE = (
    update(_C)
    .where(
        _C.c.phone == bindparam("b_phone"),
        _C.c.purpose == bindparam("b_purpose"),
        _C.c.consumed_at.is_(None),
    )
    .values(consumed_at=bindparam("b_at"))
)
_SAVE_CHECK = (
    update(_C)
    .where(_C.c.id == bindparam("b_id"), _C.c.consumed_at.is_(None))
    .values(attempts=bindparam("b_attempts"), consumed_at=bindparam("b_consumed_at"))
)
_SESSION = select(_SE).where(_SE.c.id == bindparam("session_id"))
_TOUCH = update(_SE).where(_SE.c.id == bindparam("b_id")).values(last_seen_at=bindparam("b_at"))
_REVOKE = (
    update(_SE)
    .where(_SE.c.id == bindparam("b_id"), _SE.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("b_at"))
)
_BOUND = (
    select(_SC.c.card_id, _SC.c.bound_at)
    .where(_SC.c.subscriber_id == bindparam("subscriber_id"))
    .order_by(_SC.c.bound_at, _SC.c.card_id)
)
_IS_BOUND = select(_SC.c.card_id).where(
    and_(_SC.c.subscriber_id == bindparam("subscriber_id"), _SC.c.card_id == bindparam("card_id"))
)
_PREFS = select(_P).where(_P.c.subscriber_id == bindparam("subscriber_id"))
_AUTO = select(_A).where(_A.c.card_id == bindparam("card_id"))


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        phone=row.phone,
        language=row.language,
        created_at=row.created_at,
        email=row.email,
        anti_phishing_word=row.anti_phishing_word,
    )


def _code(row: Any) -> LoginCode:
    return LoginCode(
        id=row.id,
        phone=row.phone,
        purpose=CodePurpose(row.purpose),
        code_hash=row.code_hash,
        expires_at=row.expires_at,
        created_at=row.created_at,
        attempts=row.attempts,
        consumed_at=row.consumed_at,
    )


class SqlAccountRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    # subscribers

    def subscriber_by_phone(self, phone: str) -> Subscriber | None:
        row = self._connection.execute(_SUB_BY_PHONE, {"phone": phone}).first()
        return None if row is None else _subscriber(row)

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        row = self._connection.execute(_SUB_BY_ID, {"subscriber_id": subscriber_id}).first()
        return None if row is None else _subscriber(row)

    def add_subscriber(self, subscriber: Subscriber) -> None:
        # A concurrent first login of the same number made the row already: keep it.
        insert_ignoring_duplicates(
            self._connection,
            _S,
            {
                "id": subscriber.id,
                "phone": subscriber.phone,
                "email": subscriber.email,
                "language": subscriber.language,
                "anti_phishing_word": subscriber.anti_phishing_word,
                "created_at": subscriber.created_at,
            },
            conflict_columns=("phone",),
        )

    def update_subscriber(self, subscriber: Subscriber) -> None:
        self._connection.execute(
            _UPDATE_SUB,
            {
                "b_id": subscriber.id,
                "b_email": subscriber.email,
                "b_language": subscriber.language,
                "b_word": subscriber.anti_phishing_word,
            },
        )

    # login codes

    def latest_code(
        self, phone: str, purpose: CodePurpose, *, lock: bool = False
    ) -> LoginCode | None:
        statement = _LATEST_CODE_LOCKED if lock else _LATEST_CODE
        row = self._connection.execute(
            statement, {"phone": phone, "purpose": purpose.value}
        ).first()
        return None if row is None else _code(row)

    def locked_since(
        self, phone: str, purpose: CodePurpose, *, after: datetime, max_attempts: int
    ) -> datetime | None:
        value: datetime | None = self._connection.execute(
            _LOCKED_SINCE,
            {
                "phone": phone,
                "purpose": purpose.value,
                "max_attempts": max_attempts,
                "after": after,
            },
        ).scalar()
        return value

    def add_code(self, code: LoginCode, *, supersede_at: datetime) -> None:
        self._connection.execute(
            _SUPERSEDE,
            {"b_phone": code.phone, "b_purpose": code.purpose.value, "b_at": supersede_at},
        )
        self._connection.execute(
            t.login_codes.insert(),
            {
                "id": code.id,
                "phone": code.phone,
                "purpose": code.purpose.value,
                "code_hash": code.code_hash,
                "expires_at": code.expires_at,
                "attempts": code.attempts,
                "consumed_at": code.consumed_at,
                "created_at": code.created_at,
            },
        )

    def save_code_check(self, code: LoginCode) -> bool:
        result = self._connection.execute(
            _SAVE_CHECK,
            {"b_id": code.id, "b_attempts": code.attempts, "b_consumed_at": code.consumed_at},
        )
        return result.rowcount == 1

    # sessions

    def add_session(self, session: Session) -> None:
        self._connection.execute(
            t.sessions.insert(),
            {
                "id": session.id,
                "subscriber_id": session.subscriber_id,
                "created_at": session.created_at,
                "last_seen_at": session.last_seen_at,
                "expires_at": session.expires_at,
                "revoked_at": session.revoked_at,
            },
        )

    def get_session(self, session_id: str) -> Session | None:
        row = self._connection.execute(_SESSION, {"session_id": session_id}).first()
        if row is None:
            return None
        return Session(
            id=row.id,
            subscriber_id=row.subscriber_id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    def touch_session(self, session_id: str, at: datetime) -> None:
        self._connection.execute(_TOUCH, {"b_id": session_id, "b_at": at})

    def revoke_session(self, session_id: str, at: datetime) -> None:
        self._connection.execute(_REVOKE, {"b_id": session_id, "b_at": at})

    # cards

    def bind_card(self, subscriber_id: str, card_id: str, at: datetime) -> bool:
        return insert_ignoring_duplicates(
            self._connection,
            _SC,
            {"subscriber_id": subscriber_id, "card_id": card_id, "bound_at": at},
        )

    def bound_cards(self, subscriber_id: str) -> list[BoundCard]:
        rows = self._connection.execute(_BOUND, {"subscriber_id": subscriber_id})
        return [BoundCard(row.card_id, row.bound_at) for row in rows]

    def subscribers_of_card(self, card_id: str) -> list[Subscriber]:
        """The accounts the card is bound to, oldest binding first."""
        rows = self._connection.execute(
            select(_S)
            .join(_SC, _SC.c.subscriber_id == _S.c.id)
            .where(_SC.c.card_id == card_id)
            .order_by(_SC.c.bound_at, _S.c.id)
        )
        return [_subscriber(row) for row in rows]

    def is_bound(self, subscriber_id: str, card_id: str) -> bool:
        row = self._connection.execute(
            _IS_BOUND, {"subscriber_id": subscriber_id, "card_id": card_id}
        ).first()
        return row is not None

    # settings

    def preferences(self, subscriber_id: str) -> NotificationPreferences:
        row = self._connection.execute(_PREFS, {"subscriber_id": subscriber_id}).first()
        if row is None:
            return NotificationPreferences()
        return NotificationPreferences(
            sms=row.sms,
            email=row.email,
            in_app=row.in_app,
            reminders=row.reminders,
            marketing=row.marketing,
        )

    def save_preferences(
        self, subscriber_id: str, preferences: NotificationPreferences, at: datetime
    ) -> None:
        values = {
            "sms": preferences.sms,
            "email": preferences.email,
            "in_app": preferences.in_app,
            "reminders": preferences.reminders,
            "marketing": preferences.marketing,
            "updated_at": at,
        }
        inserted = insert_ignoring_duplicates(
            self._connection, _P, {"subscriber_id": subscriber_id, **values}
        )
        if not inserted:
            self._connection.execute(
                update(_P).where(_P.c.subscriber_id == subscriber_id).values(**values)
            )

    def auto_renew(self, card_id: str) -> AutoRenewSetting | None:
        row = self._connection.execute(_AUTO, {"card_id": card_id}).first()
        return None if row is None else _auto_renew(row)

    def auto_renew_using(self, method_id: str) -> list[AutoRenewSetting]:
        """The settings that charge the saved method ``method_id``."""
        rows = self._connection.execute(
            select(_A).where(_A.c.payment_token_id == method_id).order_by(_A.c.card_id)
        )
        return [_auto_renew(row) for row in rows]

    def save_auto_renew(self, setting: AutoRenewSetting) -> None:
        values = {
            "enabled": setting.enabled,
            "offer_code": setting.offer_code,
            "payment_token_id": setting.payment_token_id,
            "updated_by": setting.updated_by,
            "updated_at": setting.updated_at,
        }
        inserted = insert_ignoring_duplicates(
            self._connection, _A, {"card_id": setting.card_id, **values}
        )
        if not inserted:
            self._connection.execute(
                update(_A).where(_A.c.card_id == setting.card_id).values(**values)
            )


def _auto_renew(row: Any) -> AutoRenewSetting:
    return AutoRenewSetting(
        card_id=row.card_id,
        enabled=row.enabled,
        offer_code=row.offer_code,
        payment_token_id=row.payment_token_id,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )
