"""The bus's faust agents: thin ``async for`` loops that call the pure deciders (consumers/)."""

__all__: list[str] = []
