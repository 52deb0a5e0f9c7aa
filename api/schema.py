"""OpenAPI generation (drf-spectacular) for views that nest their ``InputSerializer`` and
``OutputSerializer`` (STYLE.md rule 2): components are named after the view, e.g.
``PnlOutput`` for ``PnlApi.OutputSerializer``, so nested classes never collide."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

NESTED = {"InputSerializer": "Input", "OutputSerializer": "Output"}


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: object, direction: str) -> str:
        cls = serializer.__class__
        parts = cls.__qualname__.split(".")
        if len(parts) >= 2 and parts[-1] in NESTED:
            owner = parts[-2].removesuffix("Api")
            return owner + NESTED[parts[-1]]
        return super().get_serializer_name(serializer, direction)
