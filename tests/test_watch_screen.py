"""supertask watch without a terminal: layout, diff, title, frame rendering and option parsing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from supertask.cli.watch import getopt_watch, parse_watch_args
from supertask.errors import SpecError
from supertask.watch.diff import changed, mark_changes
from supertask.watch.options import WatchOptions
from supertask.watch.screen import BOLD, PLAIN, REVERSE, Attr, char_width, grid_text, layout
from supertask.watch.terminal import render, terminal_size
from supertask.watch.title import format_interval, header_line, stats_line

# ---------------------------------------------------------------- layout


def text(data: bytes | str, width: int = 10, height: int = 4, **kw: bool) -> list[str]:
    return grid_text(layout(data, width, height, **kw).grid)


def test_lines_wrap_at_the_width_and_stop_at_the_last_row() -> None:
    assert text(b"0123456789abcdef\nx\ny\nz\nlost") == ["0123456789", "abcdef", "x", "y"]


def test_no_wrap_cuts_long_lines() -> None:
    assert text(b"0123456789abcdef\nx\n", wrap=False) == ["0123456789", "x", "", ""]


def test_tabs_go_to_the_next_multiple_of_eight() -> None:
    assert text(b"a\tb\n\tc", width=20) == ["a       b", "        c", "", ""]


def test_wide_characters_take_two_columns_and_wrap_whole() -> None:
    grid = layout("ab日本語", 5, 3).grid
    assert grid_text(grid) == ["ab日", "本語", ""]
    assert [c[0] for c in grid[0]] == ["a", "b", "日", "", " "]  # 日 does not fit in the last column
    assert char_width("日") == 2 and char_width("a") == 1


def test_combining_marks_join_the_character_before() -> None:
    grid = layout("e\u0301x", 5, 1).grid
    assert grid[0][0][0] == "e\u0301" and grid[0][1][0] == "x"


def test_control_characters_show_as_procps_4_0_2_shows_them() -> None:
    # measured with /usr/bin/watch 4.0.2: ESC and other C0 controls as ^, CR and BS as a blank
    assert text(b"A\x1b[31mB\nH\x01\x02I\rJ\bK", width=20) == ["A^[31mB", "H^^I J K", "", ""]


def test_color_keeps_sgr_attributes_and_drops_other_sequences() -> None:
    grid = layout(b"\x1b[1;31mR\x1b[0mn\x1b[2Kx\x1b(By\x1b[38;5;208mo\x1b[48;2;1;2;3mt", 10, 1, color=True).grid
    assert grid_text(grid) == ["Rnxyot"]
    assert grid[0][0][1] == Attr("31", None, BOLD)
    assert grid[0][1][1] == PLAIN
    assert grid[0][4][1] == Attr("38;5;208", None, 0)
    assert grid[0][5][1] == Attr("38;5;208", "48;2;1;2;3", 0)
    assert grid[0][0][1].sgr() == "\x1b[0;1;31m"


def test_bell_is_noticed_not_shown() -> None:
    out = layout(b"a\ab", 5, 1)
    assert out.bell and grid_text(out.grid) == ["ab"]


# ---------------------------------------------------------------- diff


def test_changes_are_marked_per_cell_and_wide_characters_whole() -> None:
    old = layout("count 3\n日本", 10, 2).grid
    new = layout("count 4\n日木", 10, 2).grid
    assert changed(old, new)
    assert mark_changes(old, new) == {0: {6}, 1: {2, 3}}
    assert not changed(new, layout("count 4\n日木", 10, 2).grid)
    assert not changed(None, new)  # the first screen has nothing to differ from


def test_permanent_marks_accumulate_since_the_first_screen() -> None:
    a, b, c = (layout(s, 10, 1).grid for s in ("abc", "xbc", "xbz"))
    once = mark_changes(a, b)
    assert mark_changes(b, c, once) == {0: {2}}
    assert mark_changes(b, c, once, permanent=True) == {0: {0, 2}}


# ---------------------------------------------------------------- title

WHEN = dt.datetime(2026, 11, 27, 9, 28, 7)


@pytest.mark.parametrize(
    ("width", "line"),
    [
        # the columns of procps watch 4.0.2 (ctime's newline counts in its width arithmetic)
        (80, "Every 0.3s: echo aaa $(($(cat /tmp/ctr 2>/dev/null  vm: Fri Nov 27 09:28:07 2026"),
        (60, "Every 0.3s: echo aaa $(($(c...  vm: Fri Nov 27 09:28:07 2026"),
        (45, "Every 0.3s: ...  vm: Fri Nov 27 09:28:07 2026"),
        (30, "  vm: Fri Nov 27 09:28:07 2026"),
        (28, ""),
    ],
)
def test_header_line_truncates_like_procps(width: int, line: str) -> None:
    row = header_line("0.3", "echo aaa $(($(cat /tmp/ctr 2>/dev/null", "vm", WHEN, width)
    assert len(row) == width
    assert grid_text([row]) == [line]


def test_interval_is_shown_like_procps_and_exactly_below_its_floor() -> None:
    assert [format_interval(x) for x in (2, 0.5, 0.05, 0.001, 12.25)] == ["2.0", "0.5", "0.05", "0.001", "12.25"]


# ---------------------------------------------------------------- frame rendering


def test_render_writes_only_changed_cells() -> None:
    old = layout("hello world\nsame", 20, 3).grid
    new = layout("hello wOrld\nsame", 20, 3).grid
    out = render(old, new)
    assert "\x1b[1;8HO" in out  # row 1, column 8: just the changed cell
    assert "same" not in out and "hello" not in out and "\x1b[2J" not in out
    assert render(new, new) == ""


def test_render_repaints_everything_when_the_screen_is_unknown() -> None:
    new = layout("a", 5, 2).grid
    new[1][0] = ("b", Attr(None, None, REVERSE))
    out = render(None, new)
    assert out.startswith("\x1b[?2026h\x1b[0m\x1b[H\x1b[2J")
    assert "\x1b[1;1Ha" in out and "\x1b[2;1H\x1b[0;7mb" in out and out.endswith("\x1b[0m\x1b[?2026l")


def test_render_never_splits_a_wide_character() -> None:
    old = layout("ab日x", 6, 1).grid
    new = layout("ab本x", 6, 1).grid
    assert "\x1b[1;3H本" in render(old, new)


# ---------------------------------------------------------------- options


def parse(*argv: str, env: dict[str, str] | None = None) -> WatchOptions:
    what, opts = parse_watch_args(list(argv), env or {})
    assert what == "watch" and isinstance(opts, WatchOptions)
    return opts


def test_options_stop_at_the_first_word_of_the_command() -> None:
    o = parse("-n", "0.05", "-p", "-d", "ls", "-l", "-d", "/tmp")
    assert (o.interval, o.precise, o.differences, o.permanent) == (0.05, "start", True, False)
    assert o.command == ["ls", "-l", "-d", "/tmp"] and o.command_text == "ls -l -d /tmp"


def test_procps_option_forms() -> None:
    assert parse("-d=permanent", "--", "df", "-h").permanent
    assert parse("--differences=permanent", "x").permanent
    assert parse("-n0,5", "x").interval == 0.5  # either decimal point
    assert parse("--int", "3", "x").interval == 3.0  # unambiguous abbreviation
    assert parse("--interval=50ms", "x").interval == 0.05
    assert parse("-xn", "0.5", "ls", "-l", "/tmp").exec_
    assert parse("-tbcegwrk", "x") == WatchOptions(
        command=["x"], title=False, beep=True, color=True, errexit=True, chgexit=True, wrap=False, rerun=False,
        nokeypress=True,
    )  # fmt: skip
    assert not parse("-c", "-C", "x").color
    assert parse("-q", "3", "x").equexit == 3
    assert parse("--precise=catchup", "x").precise == "catchup"
    assert parse("--count", "10", "--for", "5s", "x").count == 10
    assert parse("-s", "/tmp/shots", "-o", "x").shotsdir == "/tmp/shots"


def test_interval_from_the_environment_and_its_limits() -> None:
    assert parse("x", env={"WATCH_INTERVAL": "0.5"}).interval == 0.5
    assert parse("-n", "1", "x", env={"WATCH_INTERVAL": "0.5"}).interval == 1.0
    assert parse("-n", "0", "x").interval == 0.001  # procps clamps at 0.1 s, we at 1 ms
    assert parse("-n", "1e9", "x").interval == 31 * 24 * 3600.0


def test_help_and_version() -> None:
    what, text = parse_watch_args(["-h"], {})
    assert what == "help" and "-d, --differences[=permanent]" in str(text) and "--precise=catchup" in str(text)
    assert parse_watch_args(["--version"], {})[0] == "version"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["-n", "soon", "x"], {}, "invalid -n interval 'soon': expected seconds such as 2, 0.5 or 0,5"),
        (["x"], {"WATCH_INTERVAL": "often"}, "invalid WATCH_INTERVAL 'often': expected seconds"),
        (["-z", "x"], {}, "unknown option '-z' in '-z': see supertask watch --help"),
        (
            ["--no", "x"],
            {},
            "ambiguous option '--no': could be --no-color, --nokeypr, --no-rerun, --no-title, --no-wrap",
        ),
        (["-d=forever", "x"], {}, "invalid -d value '=forever': expected permanent, as -d=permanent"),
        (["--precise=soon", "x"], {}, "invalid --precise value 'soon': expected start (the default) or catchup"),
        (["-q", "many", "x"], {}, "invalid -q cycles 'many': expected a whole number >= 1"),
        (["-q", "0", "x"], {}, "invalid -q cycles '0': expected a whole number >= 1"),
        (["--count", "0", "x"], {}, "invalid --count '0': expected a whole number >= 1"),
        (["-n"], {}, "option -n needs a value"),
        (["-n", "1"], {}, "no command to watch: expected supertask watch [options] COMMAND"),
    ],
)
def test_bad_options_are_one_line_errors(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_watch_args(argv, env)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_getopt_splits_like_getopt_long() -> None:
    found, command = getopt_watch(["-e", "-dn", "1", "-e", "cmd", "-x"])
    assert found == [("e", None, "-e"), ("d", "n", "-d")]  # -d's optional value sticks to it, as in getopt
    assert command == ["1", "-e", "cmd", "-x"]


def test_window_size_from_columns_and_lines_like_procps(tmp_path: Path) -> None:
    with open(tmp_path / "f", "w") as f:  # not a terminal
        assert terminal_size(f.fileno(), {"COLUMNS": "100", "LINES": "30"}) == (100, 30)
        assert terminal_size(f.fileno(), {"COLUMNS": "wide", "LINES": "30"})[1] == 30  # a bad value is ignored


def test_stats_line_is_cut_where_a_field_or_value_ends() -> None:
    left = "12 runs, 0 skipped  late p50 0.1ms p99 1.2ms  period 100ms±0.2ms"
    right = "in 0.002s (exit 0)"

    def text(width: int) -> str:
        return "".join(char for char, _ in stats_line(left, right, width)).rstrip()

    def row(shown: str, width: int) -> str:
        return shown.ljust(width - len(right)) + right

    assert text(90) == row(left, 90)
    assert text(80) == row("12 runs, 0 skipped  late p50 0.1ms p99 1.2ms  period 100ms", 80)  # not "±0."
    assert text(75) == row("12 runs, 0 skipped  late p50 0.1ms p99 1.2ms", 75)
    assert text(60) == row("12 runs, 0 skipped", 60)  # not "p99 1."
    assert text(30) == row("12 runs, 0 ", 30)  # a first field wider than the room is cut
