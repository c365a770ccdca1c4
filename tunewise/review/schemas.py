"""What the JSON API takes and returns. Nothing here names a system: responses are slots 1, 2, ..."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignment: str = Field(max_length=64)
    answer: dict
    comment: str = Field(default="", max_length=5000)


class VoteOut(BaseModel):
    vote: int
    stored: bool = True
    repeated: bool


class ResponseOut(BaseModel):
    slot: int
    text: str


class AssignmentOut(BaseModel):
    assignment: str
    kind: str
    prompt: str | None = None
    responses: list[ResponseOut] = []
    rubric: list[dict] = []
    text: str | None = None
    label: str | None = None
    suggested_label: str | None = None
    labels: list[str] = []
    choices: list[str] = []  # a label item's suggested classes, in this reviewer's order
    other: str | None = None
    none: str | None = None
    unclear: str | None = None


class ProgressOut(BaseModel):
    done: int
    left: int


class SessionOut(BaseModel):
    csrf: str
    reviewer: str
