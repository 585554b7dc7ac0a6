"""The `docbus` sub-commands (typer), one module per area."""
