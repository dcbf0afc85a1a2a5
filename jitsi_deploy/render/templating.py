"""The Jinja2 environment every rendered file goes through.

StrictUndefined turns a missing variable into an error instead of an empty string, and the
``lua`` and ``shell`` filters quote values once, here, for the languages the templates emit.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


def lua_literal(value: Any) -> str:
    """Render a Python value as a Lua literal (strings, numbers, booleans, lists, dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(_LUA_ESCAPES.get(ch, ch) for ch in value)
        return f'"{escaped}"'
    if isinstance(value, dict):
        items = "; ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple | set | frozenset):
        items = "; ".join(lua_literal(v) for v in value)
        return "{ " + items + " }" if items else "{}"
    if value is None:
        return "nil"
    raise TypeError(f"no Lua literal for {type(value).__name__}: {value!r}")


_LUA_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\0": "\\0"}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["lua"] = lua_literal
    env.filters["shell"] = lambda value: shlex.quote(str(value))
    return env


_ENV = environment()


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with the given context; missing variables raise."""
    return _ENV.get_template(name).render(**context)
