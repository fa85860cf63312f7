"""API schemas for the admin API: backlog, dead letters, dead jobs, retries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from simrenew.domain.dead_letters import DeadLetter
from simrenew.domain.jobs import Job
from simrenew.services.outbox_admin import Backlog


class BacklogOut(BaseModel):
    counts: dict[str, int] = Field(
        description="How many in each state (every state is listed, zero included).",
        examples=[{"pending": 3, "delivered": 1200, "dead": 1}],
    )
    oldest_due_seconds: int | None = Field(
        description="How long the longest-waiting due one has waited; null when none is.",
        examples=[42],
    )

    @classmethod
    def of(cls, backlog: Backlog) -> BacklogOut:
        age = backlog.oldest_due_age
        return cls(
            counts=backlog.counts,
            oldest_due_seconds=None if age is None else int(age.total_seconds()),
        )


class DeadLetterOut(BaseModel):
    """A dead outbox message: what it was and why it failed, never its text."""

    id: str = Field(examples=["msg_019aa8e5d4400000a1b2c3d4e5f60718"])
    kind: str = Field(examples=["sms"])
    message_kind: str | None = Field(
        description="What the SMS or e-mail was.", examples=["login_code"]
    )
    recipient: str | None = Field(
        description="Masked; null for kinds without a person as recipient.",
        examples=["+852****4567"],
    )
    attempts: int = Field(examples=[8])
    created_at: datetime
    last_error: str | None = Field(examples=["gateway answered 503"])

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(
            id=letter.id,
            kind=letter.kind.value,
            message_kind=letter.message_kind,
            recipient=letter.recipient,
            attempts=letter.attempts,
            created_at=letter.created_at,
            last_error=letter.last_error,
        )


class DeadJobOut(BaseModel):
    id: str = Field(examples=["job_019aa8e5d4400000a1b2c3d4e5f60718"])
    kind: str = Field(examples=["expire"])
    card_id: str
    period: str = Field(description="The validity period the job belongs to.")
    due_at: datetime
    attempts: int = Field(examples=[8])
    last_error: str | None = Field(examples=["provider unavailable"])

    @classmethod
    def of(cls, job: Job) -> DeadJobOut:
        return cls(
            id=job.id,
            kind=job.kind.value,
            card_id=job.card_id,
            period=job.period,
            due_at=job.due_at,
            attempts=job.attempts,
            last_error=job.last_error,
        )


class RetriedOut(BaseModel):
    retried: int = Field(description="How many were put back in the queue.", examples=[1])
