"""`docbus demo` (docbus/demo/command.py) and the pieces of the run it drives."""

from docbus.demo.command import demo

__all__ = ["demo"]
