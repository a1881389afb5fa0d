"""``supertask watch`` in real terminals (tmux panes of a fixed size, or a pty), side by side with
the system's procps ``watch`` (/usr/bin/watch) for the same command and options."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
PROCPS = "/usr/bin/watch"
ST = f"{shlex.quote(sys.executable)} -m supertask watch"
BIN = str(Path(sys.executable).parent)
TIME = re.compile(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}")


class Pane:
    def __init__(self, server: Tmux, name: str) -> None:
        self.server = server
        self.name = name

    def screen(self, escapes: bool = False) -> list[str]:
        args = ["capture-pane", "-p", "-t", self.name] + (["-e"] if escapes else [])
        return self.server.tmux(*args).split("\n")

    def wait(self, pred: Callable[[list[str]], bool], timeout: float = 20, escapes: bool = False) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen(escapes)
            if pred(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"pane {self.name}: condition not met in {timeout}s; screen:\n" + "\n".join(lines))
            time.sleep(0.05)

    def wait_text(self, text: str, timeout: float = 20) -> list[str]:
        return self.wait(lambda lines: any(text in line for line in lines), timeout)

    def exit_code(self, timeout: float = 20) -> int:
        lines = self.wait(lambda lines: any(line.startswith("EXIT=") for line in lines), timeout)
        return int(next(line for line in lines if line.startswith("EXIT="))[5:])

    def keys(self, *keys: str) -> None:
        self.server.tmux("send-keys", "-t", self.name, *keys)

    def resize(self, width: int, height: int) -> None:
        self.server.tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def flag(self, name: str) -> str:
        return self.server.tmux("display-message", "-p", "-t", self.name, f"#{{{name}}}").strip()


class Tmux:
    """A private tmux server; each pane runs a shell line, then prints EXIT=<code> and waits."""

    def __init__(self) -> None:
        self.socket = f"supertask-test-{os.getpid()}"
        self.count = 0
        self.env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX", "WATCH_INTERVAL")}
        self.env.update(LANG="C.UTF-8", PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        r = subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=10,
        )
        assert r.returncode == 0, f"tmux {args}: {r.stderr}"
        return r.stdout

    def run(self, line: str, width: int = 80, height: int = 12, cwd: str | None = None) -> Pane:
        self.count += 1
        name = f"p{self.count}"
        # the shell survives Ctrl-C (a trap, reset to the default in its children) to report the exit code
        script = f"trap : INT\n{line}\necho EXIT=$?\nsleep 600"
        cmd = f"cd {shlex.quote(cwd or os.getcwd())} && exec sh -c {shlex.quote(script)}"
        self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), cmd)
        return Pane(self, name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.tmux("kill-server")


@pytest.fixture(scope="module")
def tmux() -> Iterator[Tmux]:
    if TMUX is None:
        pytest.fail("these tests drive real terminals with tmux: install tmux (apt-get install tmux)")
    if not os.access(PROCPS, os.X_OK):
        pytest.fail(f"these tests compare with procps watch: {PROCPS} is missing (apt-get install procps)")
    server = Tmux()
    yield server
    server.close()


def has_body(lines: list[str]) -> bool:
    return any(line.strip() for line in lines[2:])


def same_screen(ours: list[str], theirs: list[str], title: bool = True) -> None:
    """procps' screen, with line 2 (blank in procps 4.0.2) holding our statistics."""
    if not title:
        assert ours == theirs
        return
    assert TIME.sub("<time>", ours[0]) == TIME.sub("<time>", theirs[0])
    assert theirs[1] == "" and "runs, " in ours[1]
    assert ours[2:] == theirs[2:]


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


# ---------------------------------------------------------------- the same screen as procps


def test_same_screens_as_procps(tmux: Tmux, tmp_path: Path) -> None:
    text = script(
        tmp_path,
        "text.sh",
        'echo "hello"\nprintf "a\\tb\\tc\\n"\necho "日本語 wide ✓ x"\n'
        'echo "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"\n'
        'printf "A\\033[31mB\\nH\\001I\\rJ\\n"\necho last\n',
    )
    color = script(tmp_path, "color.sh", 'printf "\\033[31mred\\033[0m plain \\033[1;42mbold-green\\033[0m\\n"\n')
    cases: dict[str, tuple[str, int, bool, bool]] = {
        # name: (options and command, width, title shown, compare escapes)
        "plain": (f"-n 0.5 {text}", 80, True, False),
        "no title": (f"-t -n 0.5 {text}", 80, False, False),
        "narrow": (f"-n 0.5 {text}", 50, True, False),
        "very narrow": (f"-n 0.5 {text}", 45, True, False),
        "color": (f"-c -n 0.5 {color}", 80, True, True),
        "exec": ("-x -n 0.5 printf '%s|%s\\n' 'a  b' '$HOME'", 80, True, False),
        "words": ("-n 0.5 echo 'a  b' '$HOME'", 80, True, False),
        "precise, long options": (f"--precise --interval=0.5 --differences {text}", 80, True, False),
    }
    panes = {
        name: (tmux.run(f"{ST} {opts}", width=w), tmux.run(f"{PROCPS} {opts}", width=w))
        for name, (opts, w, _, _) in cases.items()
    }
    cases["env"] = (text, 80, True, False)
    panes["env"] = (tmux.run(f"WATCH_INTERVAL=0,5 {ST} {text}"), tmux.run(f"WATCH_INTERVAL=0,5 {PROCPS} {text}"))
    # -C (procps 4.0.3+) turns an earlier -c off: the screen of procps without -c
    cases["no color"] = (f"-n 0.5 {color}", 80, True, True)
    panes["no color"] = (tmux.run(f"{ST} -c -C -n 0.5 {color}"), tmux.run(f"{PROCPS} -n 0.5 {color}"))
    shown = {}
    for name, (ours, theirs) in panes.items():
        _, _, title, escapes = cases[name]
        ready = has_body if title else (lambda lines: bool(lines[0].strip()))
        ours.wait(ready)
        theirs.wait(ready)
        time.sleep(0.1)
        shown[name] = ours.screen(escapes)
        same_screen(shown[name], theirs.screen(escapes), title)
        ours.keys("C-c")
        theirs.keys("C-c")
    assert shown["plain"][2:9] == [
        "hello",
        "a       b       c",
        "日本語 wide ✓ x",
        "01234567890123456789012345678901234567890123456789012345678901234567890123456789",
        "01234567890",
        "A^[31mB",
        "H^I J",
    ]
    assert shown["exec"][2] == "a  b|$HOME"
    assert shown["words"][2] == "a b " + os.environ["HOME"]  # joined words, then sh -c expands them
    assert shown["env"][0].startswith("Every 0.5s: /")
    assert shown["narrow"][0].startswith("Every 0.5s: /tmp/") and shown["narrow"][0].endswith(" 2026")


def test_differences_are_highlighted_like_procps(tmux: Tmux, tmp_path: Path) -> None:
    # run 1 prints "A", later runs "B"; a counter changes every run; a plain line between them
    # (tmux's capture writes a style only where it changes, also across lines)
    def counting(name: str) -> str:
        counter = tmp_path / f"{name}.n"
        return script(
            tmp_path,
            f"{name}.sh",
            f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}\n"
            'echo "count $((n % 10))"\necho static\n[ "$n" = 0 ] && echo A || echo B\n',
        )

    panes = {
        (who, opt): tmux.run(f"{cmd} -n 0.1 {opt} {counting(who + opt.strip('-=').replace('=', ''))}")
        for who, cmd in (("ours", ST), ("procps", PROCPS))
        for opt in ("-d", "-d=permanent")
    }
    for pane in panes.values():
        pane.wait(lambda lines: lines[2].startswith("count ") and lines[4] == "B")  # from run 2 on
    time.sleep(0.3)  # a few runs more
    screens = {}
    for key, pane in panes.items():
        screens[key] = pane.screen(escapes=True)
        pane.keys("C-c")
        # the digit that changed last is highlighted, with either option
        assert re.fullmatch(r"count \x1b\[7m\d", screens[key][2]), (key, screens[key][2])
    for who in ("ours", "procps"):
        # -d: only the last change is shown; the A->B change of run 2 is gone by run 5
        assert screens[(who, "-d")][4] == "B"
        # -d=permanent: every cell that ever changed stays highlighted
        assert screens[(who, "-d=permanent")][4].startswith("\x1b[7mB")
        assert screens[(who, "-d=permanent")][3].endswith("static")


# ---------------------------------------------------------------- keys, resize, restore


def test_keys_space_runs_now_s_saves_a_screenshot_q_quits(tmux: Tmux, tmp_path: Path) -> None:
    counter = tmp_path / "n"
    cmd = script(
        tmp_path, "count.sh", f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; echo run $n\n"
    )
    shots = tmp_path / "shots"
    shots.mkdir()
    pane = tmux.run(f"echo before-watch; {ST} -n 30 -s {shots} {cmd}")
    broken = tmux.run(f"{ST} -n 30 -s {tmp_path}/missing true")
    pane.wait_text("run 0")
    assert pane.flag("alternate_on") == "1"
    pane.keys(" ")
    pane.wait_text("run 1")
    pane.keys("s")
    deadline = time.monotonic() + 10
    # the file appears before its text is written: wait for the whole screen
    while sum(p.stat().st_size for p in shots.iterdir()) < 12 * 81 and time.monotonic() < deadline:  # 12 rows
        time.sleep(0.05)
    (shot,) = shots.iterdir()
    assert re.fullmatch(r"watch_\d{8}-\d{6}", shot.name)
    lines = shot.read_text().split("\n")
    assert len(lines) == 13 and all(len(line) == 80 for line in lines[:12])  # the whole screen, as procps saves it
    assert lines[0].startswith("Every 30.0s: /") and lines[2].rstrip() == "run 1"
    pane.keys("q")
    assert pane.exit_code() == 0
    broken.keys("s")
    lines = broken.wait_text("screenshot failed: ")  # a message on the last line, and watch goes on
    assert lines[11].startswith("screenshot failed: /")
    broken.keys("q")
    assert broken.exit_code() == 0
    screen = pane.screen()
    assert screen[0] == "before-watch" and pane.flag("alternate_on") == "0" and pane.flag("cursor_flag") == "1"


def test_resize_reruns_or_only_reflows_with_no_rerun(tmux: Tmux) -> None:
    cmd = "'echo cols=$COLUMNS lines=$LINES'"
    rerun = tmux.run(f"{ST} -n 30 {cmd}")
    keep = tmux.run(f"{ST} -r -n 30 {cmd}")
    rerun.wait_text("cols=80 lines=12")
    keep.wait_text("cols=80 lines=12")
    rerun.resize(50, 8)
    keep.resize(50, 8)
    lines = rerun.wait_text("cols=50 lines=8")
    assert lines[0].startswith("Every 30.0s: echo...  vm")  # the title fits the new width
    lines = keep.wait(lambda lines: lines[0].startswith("Every 30.0s: echo...  vm"))
    time.sleep(0.3)
    assert keep.screen()[2] == "cols=80 lines=12"  # shown again at the new size, not rerun
    for pane in (rerun, keep):
        pane.keys("q")
        assert pane.exit_code() == 0


def test_ctrl_c_restores_the_terminal_at_20hz(tmux: Tmux) -> None:
    pane = tmux.run(f"echo before-watch; {ST} -n 0.05 -p -d 'date +%T.%N'")
    pane.wait(lambda lines: "Every 0.05s: date +%T.%N" in lines[0] and has_body(lines))
    time.sleep(0.5)
    stats = pane.screen()[1]
    assert re.match(r"\d+ runs, \d+ skipped  late p50 \S+ p99 \S+  period (4\d|5\d)\.?\d*ms", stats), stats
    pane.keys("C-c")
    assert pane.exit_code() == 0
    assert pane.screen()[0] == "before-watch" and pane.flag("alternate_on") == "0"


# ---------------------------------------------------------------- exits: -e, -g, -q, -o


def test_exit_options_like_procps(tmux: Tmux, tmp_path: Path) -> None:
    def changing(name: str) -> str:
        counter = tmp_path / f"{name}.n"
        return script(
            tmp_path,
            f"{name}.sh",
            f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}\n"
            "[ $n -ge 2 ] && echo new || echo old\n",
        )

    panes = {}
    for who, cmd in (("ours", ST), ("procps", PROCPS)):
        panes[who, "e"] = tmux.run(f"{cmd} -n 0.2 -e 'echo out; exit 3'")
        panes[who, "g"] = tmux.run(f"{cmd} -n 0.2 -g {changing(who)}")
        panes[who, "q"] = tmux.run(f"{cmd} -n 0.2 -q 2 'echo same'")
    for who in ("ours", "procps"):
        lines = panes[who, "e"].wait_text("press a key to exit")
        assert lines[2] == "out" and lines[11] == "command exit with a non-zero status, press a key to exit"
        time.sleep(0.3)
        panes[who, "e"].keys("x")
        assert panes[who, "e"].exit_code() == 8
        assert panes[who, "g"].exit_code() == 0
        assert panes[who, "q"].exit_code() == 0
    ok = tmux.run(f"{ST} -o -k true")
    assert ok.exit_code() == 0


def test_no_wrap_cuts_lines_and_keeps_wide_characters_whole(tmux: Tmux) -> None:
    pane = tmux.run(f"{ST} -w -t -n 0.5 'printf \"%090d\\n日本語日本語\\nend\\n\" 0'", width=11, height=5)
    lines = pane.wait_text("end")
    assert lines[:3] == ["00000000000", "日本語日本語"[:5], "end"]
    pane.keys("q")
    assert pane.exit_code() == 0


# ---------------------------------------------------------------- the issue's command lines


def test_the_issues_command_lines_work_verbatim_in_a_terminal(tmux: Tmux, tmp_path: Path) -> None:
    inbox = Path("/tmp/inbox")
    made = not inbox.exists()
    inbox.mkdir(exist_ok=True)
    try:
        lines = {
            "ss": "supertask watch 'ss -s'",
            "loadavg": "supertask watch -n 0.05 -p -d 'cat /proc/loadavg'",
            "df": "supertask watch -n 1 -d=permanent -- df -h",
            "ls": "supertask watch -x -n 0.5 ls -l /tmp",
            "inbox": "supertask watch -g 'ls /tmp/inbox'",
            "errexit": "supertask watch -e 'systemctl is-active foo'",
            "pipe": "supertask watch -n 0.2 --count 10 'date +%T.%N' | cat",
            "env": "WATCH_INTERVAL=0.5 supertask watch 'uptime'",
        }
        panes = {
            name: tmux.run(line, width=120 if name == "pipe" else 80, height=30 if name == "pipe" else 12)
            for name, line in lines.items()
        }
        titles = {
            "ss": "Every 2.0s: ss -s",
            "loadavg": "Every 0.05s: cat /proc/loadavg",
            "df": "Every 1.0s: df -h",
            "ls": "Every 0.5s: ls -l /tmp",
            "inbox": "Every 2.0s: ls /tmp/inbox",
            "env": "Every 0.5s: uptime",
        }
        for name, title in titles.items():
            panes[name].wait(lambda lines, title=title: lines[0].startswith(title) and "runs, " in lines[1])
        assert panes["ss"].wait_text("Total:")
        assert panes["ls"].wait_text("total ")
        assert panes["df"].wait_text("Filesystem")
        assert panes["env"].wait_text("load average")
        marker = inbox / f"supertask-test-{os.getpid()}"
        marker.touch()
        try:
            assert panes["inbox"].exit_code() == 0  # the output changed
        finally:
            marker.unlink()
        panes["errexit"].wait_text("command exit with a non-zero status, press a key to exit")
        time.sleep(0.3)
        panes["errexit"].keys("x")
        assert panes["errexit"].exit_code() == 8
        assert panes["pipe"].exit_code() == 0
        pipe_lines = [line for line in panes["pipe"].screen() if line]
        assert len([line for line in pipe_lines if "date +%T.%N: run " in line]) == 10
        for name in ("ss", "loadavg", "df", "ls", "env"):
            panes[name].keys("q")
            assert panes[name].exit_code() == 0
    finally:
        if made:
            with contextlib.suppress(OSError):
                inbox.rmdir()


# ---------------------------------------------------------------- a pty: the bell


def run_in_ptys(argvs: list[list[str]], seconds: float) -> list[bytes]:
    """Run each argv on a pty of its own for *seconds*, then press q (procps: SIGTERM); return what each wrote."""
    procs = []
    for argv in argvs:
        master, slave = os.openpty()
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, close_fds=True)
        os.close(slave)
        procs.append((proc, master, bytearray()))

    def drain(until: float) -> None:
        while time.monotonic() < until:
            fds = [m for p, m, _ in procs if m >= 0]
            ready, _, _ = select.select(fds, [], [], 0.05)
            for _, master, out in procs:
                if master in ready:
                    with contextlib.suppress(OSError):
                        out += os.read(master, 65536)

    try:
        drain(time.monotonic() + seconds)
        for _, master, _ in procs:
            os.write(master, b"q")  # procps 4.0.2 has no keys: it gets SIGTERM below
        deadline = time.monotonic() + 5
        while any(proc.poll() is None for proc, _, _ in procs) and time.monotonic() < deadline:
            drain(time.monotonic() + 0.1)
            for proc, _, _ in procs:
                if proc.poll() is None and proc.args[0] == PROCPS:
                    proc.terminate()
        drain(time.monotonic() + 0.3)
    finally:
        for proc, master, _ in procs:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
    return [bytes(out) for _, _, out in procs]


def test_beep_on_a_failing_run_and_on_a_bell_in_the_output() -> None:
    py = [sys.executable, "-m", "supertask", "watch", "-n", "0.2"]
    beep, silent, bell, ok, procps_beep, procps_silent, fast = run_in_ptys(
        [
            [*py, "-b", "exit 1"],
            [*py, "exit 1"],
            [*py, "printf 'ding\\a\\n'"],
            [*py, "-b", "true"],
            [PROCPS, "-n", "0.2", "-b", "exit 1"],
            [PROCPS, "-n", "0.2", "exit 1"],
            [sys.executable, "-m", "supertask", "watch", "-n", "0.05", "-p", "date +%T.%N"],
        ],
        6.0,  # seven interpreters start at once: on a loaded 2-core machine that alone can take seconds
    )
    assert b"\a" in beep and b"\a" not in silent and b"\a" in bell and b"\a" not in ok
    assert b"\a" in procps_beep and b"\a" not in procps_silent  # as procps does
    # the alternate screen is entered and left, the cursor hidden and shown again
    assert ok.count(b"\x1b[?1049h") == 1 and ok.endswith(b"\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l")
    # 20 Hz without flicker: the screen is cleared once, then frames rewrite only what changed
    frames = fast.count(b"\x1b[?2026h")
    assert frames > 10, frames
    assert fast.count(b"\x1b[2J") == 2  # entering, and the first frame
    assert fast.count(b"Every 0.05s: date +%T.%N") == 1  # the unchanged part of the title is written once


def test_a_slow_run_shows_its_output_as_it_comes(tmux: Tmux) -> None:
    pane = tmux.run(f"{ST} -n 30 'echo first; sleep 0.5; echo second; sleep 2; echo third'")
    lines = pane.wait_text("second")
    assert lines[2:5] == ["first", "second", ""]  # the run is still going
    lines = pane.wait_text("third")
    assert lines[2:5] == ["first", "second", "third"]
    pane.keys("q")
    assert pane.exit_code() == 0


def test_a_resize_before_the_signal_receiver_is_open_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window size is read when the session is made; a resize before trio listens for SIGWINCH
    (while the engine is imported and started) must still give the new size."""
    import fcntl
    import struct
    import termios
    import threading

    from supertask.cli.watch import parse_watch_args
    from supertask.watch import session as session_mod

    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    made: list[session_mod.Session] = []
    real_init = session_mod.Session.__init__

    def init_then_resize(self: session_mod.Session, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)
        # this process has no controlling terminal: no SIGWINCH comes, as when it came too early
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 12, 50, 0, 0))

    monkeypatch.setattr(session_mod.Session, "__init__", init_then_resize)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            if select.select([master], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    os.read(master, 1 << 16)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        _, opts = parse_watch_args(["-n", "0.01", "--count", "1", "echo $COLUMNS"], {})
        result = session_mod.run_watch(opts, out_fd=slave, in_fd=slave)  # type: ignore[arg-type]
    finally:
        done.set()
        reader.join()
        os.close(master)
        os.close(slave)
    assert result.exit_code == 0
    assert (made[0].width, made[0].height) == (50, 12)
    assert made[0].runner.env == {"COLUMNS": "50", "LINES": "12"}
