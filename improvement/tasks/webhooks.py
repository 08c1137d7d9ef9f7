"""Tasks that deliver outbound events to webhooks."""

__all__: list[str] = []
