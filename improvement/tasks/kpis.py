"""Tasks that check KPIs."""

__all__: list[str] = []
