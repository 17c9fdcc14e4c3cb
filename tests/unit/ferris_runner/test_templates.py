"""`.jinja` files rendered with the run's params, and refused with the file and line named."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferris_runner.templates import TemplateFailed, render_templates


def lay(work: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (work / name).write_text(text)
    return list(files)


def test_a_template_is_rendered_with_the_params_beside_the_files_without_its_suffix(tmp_path: Path) -> None:
    names = lay(
        tmp_path,
        {
            "main.py": "print(1)",
            "query.sql.jinja": (
                "SELECT * FROM {{ table }} WHERE region = '{{ region }}'{% if limit %} LIMIT {{ limit }}{% endif %};\n"
            ),
            "header.txt.jinja": "{% include 'part.txt' %} for {{ package_name }}",
            "part.txt": "report",
        },
    )
    made = render_templates(tmp_path, names, {"table": "sales", "region": "eu", "limit": 5, "package_name": "p"})
    assert made == ["query.sql", "header.txt"]
    assert (tmp_path / "query.sql").read_text() == "SELECT * FROM sales WHERE region = 'eu' LIMIT 5;\n"
    assert (tmp_path / "header.txt").read_text() == "report for p"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "a\n{{ secrets.TOKEN }}\n",
            "t.sql.jinja line 2: 'secrets' is undefined (a template gets the run's params only",
        ),
        ("a\nb\n{% if x %}\n", "t.sql.jinja line 3: Unexpected end of template"),
        ("{{ ''.__class__.__mro__ }}", "t.sql.jinja line"),  # the sandbox refuses attributes of that kind
    ],
)
def test_a_template_that_cannot_render_is_refused_naming_its_line(tmp_path: Path, template: str, message: str) -> None:
    names = lay(tmp_path, {"main.py": "print(1)", "t.sql.jinja": template})
    with pytest.raises(TemplateFailed) as refused:
        render_templates(tmp_path, names, {"x": 1})
    assert str(refused.value).startswith(message), str(refused.value)
    assert not (tmp_path / "t.sql").exists()


def test_a_template_may_not_replace_a_file_of_the_package(tmp_path: Path) -> None:
    names = lay(tmp_path, {"main.py": "print(1)", "main.py.jinja": "print(2)"})
    with pytest.raises(TemplateFailed, match=r"main\.py\.jinja would replace main\.py"):
        render_templates(tmp_path, names, {})
    assert (tmp_path / "main.py").read_text() == "print(1)"
