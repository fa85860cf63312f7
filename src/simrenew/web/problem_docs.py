"""OpenAPI documentation of problem responses: which codes a route answers with."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simrenew.web.problems import MEDIA_TYPE, TYPE_BASE


class ProblemOut(BaseModel):
    """RFC 9457 problem details, with our stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[TYPE_BASE + "card_not_found"])
    title: str = Field(examples=["Card not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No card with that number."])
    code: str = Field(examples=["card_not_found"])
    request_id: str | None = Field(default=None, examples=["3f2a9c1e0b7d4e58a6c1d2e3f4a5b6c7"])


def problem_responses(*entries: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route from (status, code) pairs, plus the 500 every route
    may answer."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for status, code in (*entries, (500, "internal_error")):
        by_status[status].append(code)
    docs: dict[int | str, dict[str, Any]] = {}
    for status, codes in sorted(by_status.items()):
        docs[status] = {
            "model": ProblemOut,
            "description": "Problem: " + ", ".join(f"`{c}`" for c in codes),
            "content": {
                MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/ProblemOut"},
                    "examples": {
                        code: {
                            "value": {
                                "type": TYPE_BASE + code,
                                "title": code.replace("_", " ").capitalize(),
                                "status": status,
                                "detail": "…",
                                "code": code,
                                "request_id": "3f2a9c1e0b7d4e58a6c1d2e3f4a5b6c7",
                            }
                        }
                        for code in codes
                    },
                }
            },
        }
    return docs
