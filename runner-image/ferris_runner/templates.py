"""A package's `.jinja` files, rendered with the run's params before its steps run and written
beside them without the suffix (`query.sql.jinja` becomes `query.sql`). The environment is
Jinja's sandbox with undefined names as errors; its context is the run's params (with
`package_name`, `package_id` and `run_id`) and nothing else: no secret, no secret param, no
environment. A template that cannot render fails the run, naming the file and the line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

SUFFIX = ".jinja"


class TemplateFailed(Exception):
    """A template that did not render; the message names it, its line and why."""


def render_templates(work: Path, names: Iterable[str], params: Mapping[str, Any]) -> list[str]:
    """Render every ``*.jinja`` of ``names`` (files in ``work``) into ``work``; the names made."""
    names = list(names)
    environment = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(work),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is a script's file (SQL, config), not HTML
        keep_trailing_newline=True,
    )
    made = []
    for name in names:
        if not name.endswith(SUFFIX) or name == SUFFIX:
            continue
        target = name.removesuffix(SUFFIX)
        if target in names:
            raise TemplateFailed(f"{name} would replace {target}, a file of the package: rename one of them")
        try:
            text = environment.get_template(name).render(dict(params))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateFailed(f"{name} line {exc.lineno}: {exc.message}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateFailed(
                f"{name} line {_line(exc, name)}: {exc.message} (a template gets the run's params only;"
                " secrets are not in its context)"
            ) from None
        except jinja2.TemplateError as exc:
            raise TemplateFailed(f"{name} line {_line(exc, name)}: {exc}") from None
        (work / target).write_text(text)
        made.append(target)
    return made


def _line(error: Exception, name: str) -> str:
    """The template's line a rendering error came from (Jinja puts it in the traceback)."""
    traceback = error.__traceback__
    line = "?"
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.endswith(name):
            line = str(traceback.tb_lineno)
        traceback = traceback.tb_next
    return line
