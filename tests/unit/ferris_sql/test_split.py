"""A .sql file cut into statements where PostgreSQL would cut it, each knowing its line."""

from __future__ import annotations

import re

import pytest

from ferris_sql.split import SplitError, split


def texts(sql: str) -> list[str]:
    return [statement.text for statement in split(sql)]


def test_statements_are_cut_at_semicolons_and_know_the_line_they_start_on() -> None:
    found = split("CREATE TABLE t (n int);\n\nINSERT INTO t VALUES (1);\nSELECT n\n  FROM t")
    assert [(s.number, s.line, s.text) for s in found] == [
        (1, 1, "CREATE TABLE t (n int)"),
        (2, 3, "INSERT INTO t VALUES (1)"),
        (3, 4, "SELECT n\n  FROM t"),
    ]


def test_a_statements_line_is_where_its_code_starts_not_its_comment() -> None:
    found = split("-- the table\n/* made\n   here */\nCREATE TABLE t (n int);")
    assert found[0].line == 4 and found[0].text == "CREATE TABLE t (n int)"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
        ("SELECT 'it''s; here'; SELECT 2", ["SELECT 'it''s; here'", "SELECT 2"]),
        ("SELECT E'a\\';b'; SELECT 2", ["SELECT E'a\\';b'", "SELECT 2"]),
        ('SELECT 1 AS "a;b"; SELECT 2', ['SELECT 1 AS "a;b"', "SELECT 2"]),
        ("SELECT 1 -- a; comment\n; SELECT 2", ["SELECT 1 -- a; comment", "SELECT 2"]),
        ("SELECT /* a; /* nested; */ still; */ 1; SELECT 2", ["SELECT /* a; /* nested; */ still; */ 1", "SELECT 2"]),
        ("SELECT $$a;b$$; SELECT 2", ["SELECT $$a;b$$", "SELECT 2"]),
        (
            "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql; SELECT f()",
            ["CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql", "SELECT f()"],
        ),
        ("SELECT $1; SELECT 2", ["SELECT $1", "SELECT 2"]),  # a parameter, not a dollar quote
        ("SELECT a$b; SELECT 2", ["SELECT a$b", "SELECT 2"]),  # '$' inside a name
        ("SELECT 1;;\n; -- only a comment\n;", ["SELECT 1"]),
    ],
)
def test_semicolons_inside_strings_names_bodies_and_comments_do_not_cut(sql: str, expected: list[str]) -> None:
    assert texts(sql) == expected


def test_an_e_at_the_end_of_a_name_does_not_make_an_escape_string() -> None:
    # `name'...'` is not valid SQL, but the splitter must not read a backslash escape into it
    assert texts("SELECT some 'a\\'; SELECT 2") == ["SELECT some 'a\\'", "SELECT 2"]


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("SELECT 1;\nSELECT 'open", "line 2: a quoted string is never closed"),
        ('SELECT "open', "line 1: a quoted name is never closed"),
        ("SELECT 1;\n\n/* open", "line 3: a /* comment is never closed"),
        ("SELECT $x$ open", "line 1: a $x$ quoted body is never closed"),
    ],
)
def test_text_ending_inside_a_string_or_comment_is_refused_naming_where_it_began(sql: str, what: str) -> None:
    with pytest.raises(SplitError, match=re.escape(what)):
        split(sql)


def test_a_file_of_comments_only_has_no_statement() -> None:
    assert split("-- nothing\n/* here */\n") == []


def test_a_statement_is_named_by_its_first_line_of_code_cut_to_a_width() -> None:
    statement = split("-- why\nSELECT " + "x, " * 60 + "1")[0]
    assert statement.first_line(40).startswith("SELECT x, x,") and len(statement.first_line(40)) == 40
