"""Error bodies, in FastAPI's shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    """Any error other than validation: `{"detail": "..."}`."""

    model_config = ConfigDict(defer_build=True)

    detail: str


class ValidationErrorItem(BaseModel):
    model_config = ConfigDict(defer_build=True)

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrors(BaseModel):
    """A 422 (or 413): one entry per problem, as FastAPI reports them."""

    model_config = ConfigDict(defer_build=True)

    detail: list[ValidationErrorItem]
