"""The summary a ministry operator reads at the end of the demo (rich tables), from summary.json."""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary"]


def _docs(summary: dict[str, Any]) -> Table:
    t = Table(title="documents exchanged", title_justify="left")
    for col in (
        "document",
        "from",
        "to",
        "bus",
        "delivered",
        "arrived (01)",
        "accepted (03)",
        "refused (02)",
    ):
        t.add_column(col, justify="left" if col in ("document", "from", "bus") else "right")
    for d in summary["documents"]:
        n, refused = d["recipients"], d["refused_02"]
        t.add_row(
            d["label"], d["sender"], str(n), d["bus_notice"][:2] or "[red]none[/]", _all(d["delivered"], n),
            _all(d["arrived_01"], n), str(d["accepted_03"]), f"[red]{refused}[/]" if refused else "0",
        )  # fmt: skip
    return t


def _all(value: int, expected: int) -> str:
    return f"[green]{value}[/]" if value == expected else f"[yellow]{value}[/]"


def _refusals(summary: dict[str, Any]) -> Table | None:
    rows = [(d["label"], org, why) for d in summary["documents"] for org, why in d["refusals"].items()]
    if not rows:
        return None
    t = Table(
        "document", "refused by", "reason given (02)", title="refused by recipients", title_justify="left"
    )
    for row in rows:
        t.add_row(*row)
    return t


def _rejected(summary: dict[str, Any]) -> Table:
    t = Table("document", "from", "what was wrong", "quarantined as", "sender told (02)",
              title="rejected by the bus", title_justify="left")  # fmt: skip
    for r in summary["rejected"]:
        reason = r["reason"] or "[red]not seen[/]"
        t.add_row(
            r["label"], r["sender"], r["why"], f"[red]{reason}[/]", r["bus_notice"][:60] or "[red]none[/]"
        )
    return t


def print_summary(out: Console, summary: dict[str, Any]) -> None:
    out.print()
    out.print(_docs(summary))
    refusals = _refusals(summary)
    if refusals is not None:
        out.print(refusals)
    out.print(_rejected(summary))
    a = summary["audit"]
    verdict = "[green]OK[/]" if a["ok"] else f"[red]FAULT[/] {a['fault']}"
    out.print(f"audit log {summary['topics']['audit']}: {a['records']} records "
              f"({a['about_demo']} about these documents), {a['checkpoints']} checkpoints, "
              f"newest signs {a['signed']}: {verdict}")  # fmt: skip
    out.print(f"exchange finished in {summary['exchange_s']:.1f} s; whole demo {summary['elapsed_s']:.1f} s")
    out.print(f"summary written to {summary['summary_file']}\n")
    _next(out, summary)


def _next(out: Console, summary: dict[str, Any]) -> None:
    directive = summary["documents"][0]
    mid = directive["message_id"]
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in summary["env"].items())
    out.print("[bold]what to run next[/] (broker and processors "
              + ("still running" if summary["kept_running"] else "stopped: add --keep-running to keep them")
              + ")")  # fmt: skip
    out.print(f"  export {env}")
    commands = (
        f"docbus status {mid} --org G03", f"docbus audit timeline {mid}", "docbus audit verify",
        f"docbus evidence {mid} --out directive.evidence", "docbus evidence verify directive.evidence",
    )  # fmt: skip
    for cmd in commands:
        out.print(f"  .venv/bin/{cmd}")
    out.print(f"  ls {summary['env']['DOCBUS_HOME']}/nodes/{directive['first']}/inbox   # what a Sở stored")
    if summary["kept_running"]:
        out.print("  stop it all: .venv/bin/docbus demo --stop")
