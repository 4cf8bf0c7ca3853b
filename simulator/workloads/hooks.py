"""preStop hooks: what a container's `lifecycle.preStop` does, as a list of steps.

The kubelet runs the hook to completion before it sends the stop signal
(pkg/kubelet/kuberuntime/kuberuntime_container.go, killContainer -> executePreStopHook).
Handlers: `exec` (runs a command inside the container: only `sleep`, `kill <sig> 1` and
`nginx -s quit|stop` have an effect worth emulating, the rest are no-ops), `httpGet` (a GET to
the pod itself), `sleep` (the PodLifecycleSleepAction handler, beta since 1.30) and the
deprecated `tcpSocket` (the kubelet ignores it).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Step", "HookError", "plan_prestop", "parse_sleep_args", "normalise_signal"]

SHELLS = frozenset({"sh", "ash", "bash", "dash"})
_NGINX_SIGNALS = {"quit": "SIGQUIT", "stop": "SIGTERM"}
_SUFFIXES = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class HookError(Exception):
    """The hook failed as the kubelet would report it (FailedPreStopHook)."""


@dataclass(frozen=True)
class Step:
    """One effect of a hook, in order."""

    kind: Literal["sleep", "signal", "http"]
    seconds: float = 0.0
    signal: str = ""
    http: dict[str, Any] | None = None


def normalise_signal(name: str | int) -> str:
    """'QUIT', 'sigquit', 'SIGQUIT', 3 -> 'SIGQUIT'."""
    numbers = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 9: "SIGKILL", 15: "SIGTERM",
               10: "SIGUSR1", 12: "SIGUSR2", 28: "SIGWINCH"}
    if isinstance(name, int) or str(name).isdigit():
        return numbers.get(int(name), f"SIG{name}")
    upper = str(name).upper()
    return upper if upper.startswith("SIG") else "SIG" + upper


def parse_sleep_args(args: list[str]) -> float:
    """busybox/coreutils `sleep`: the sum of its arguments, each with an optional s/m/h/d."""
    if not args:
        raise HookError("sleep: missing operand")
    total = 0.0
    for arg in args:
        number, factor = arg, 1.0
        if arg and arg[-1] in _SUFFIXES:
            number, factor = arg[:-1], _SUFFIXES[arg[-1]]
        try:
            value = float(number)
        except ValueError:
            raise HookError(f"sleep: invalid number '{arg}'") from None
        if value < 0:
            raise HookError(f"sleep: invalid number '{arg}'")
        total += value * factor
    return total


def _command_steps(argv: list[str]) -> list[Step]:
    """Steps for one simple command (argv[0] already known to exist)."""
    program = posixpath.basename(argv[0])
    if program in ("exec", "busybox") and len(argv) > 1:
        return _command_steps(argv[1:])
    if program == "sleep":
        return [Step("sleep", seconds=parse_sleep_args(argv[1:]))]
    if program == "nginx" and len(argv) >= 3 and argv[1] == "-s" and argv[2] in _NGINX_SIGNALS:
        return [Step("signal", signal=_NGINX_SIGNALS[argv[2]])]
    if program == "kill" and argv[-1:] == ["1"]:
        # `kill 1`, `kill -QUIT 1`, `kill -s QUIT 1`: a signal to the container's PID 1.
        opts = argv[1:-1]
        sig = "SIGTERM"
        if opts[:1] == ["-s"] and len(opts) > 1:
            sig = normalise_signal(opts[1])
        elif opts and opts[0].startswith("-"):
            sig = normalise_signal(opts[0][1:])
        return [Step("signal", signal=sig)]
    return []


def _script_steps(script: str, has: Any) -> list[Step]:
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|\n")
    lexer.whitespace = " \t"
    lexer.whitespace_split = True
    steps: list[Step] = []
    argv: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set(";&|\n"):
            if argv:
                if not has(argv[0]):
                    # sh: exit status 127 ends an && chain and fails the hook.
                    raise HookError(f"sh: {argv[0]}: not found")
                steps += _command_steps(argv)
            argv = []
        else:
            argv.append(token)
    return steps


def plan_prestop(container: dict[str, Any], executables: frozenset[str] | None) -> list[Step]:
    """The steps of `container`'s preStop hook (empty when it has none).

    `executables` is what the image holds (None: a normal userland with a shell); an exec
    of a program the image lacks raises HookError with the runtime's message.
    """
    handler = (container.get("lifecycle") or {}).get("preStop") or {}

    def has(program: str) -> bool:
        if executables is None:
            return True
        return posixpath.basename(program) in executables

    if "exec" in handler:
        command = [str(c) for c in (handler["exec"] or {}).get("command") or []]
        if not command:
            raise HookError("exec: no command")
        if not has(command[0]):
            raise HookError(f'exec: "{command[0]}": executable file not found in $PATH')
        program = posixpath.basename(command[0])
        if program in SHELLS and len(command) >= 3 and command[1] == "-c":
            return _script_steps(command[2], has)
        return _command_steps(command)
    if "httpGet" in handler:
        return [Step("http", http=dict(handler["httpGet"] or {}))]
    if "sleep" in handler:
        seconds = (handler["sleep"] or {}).get("seconds", 0)
        return [Step("sleep", seconds=max(0.0, float(seconds)))]
    return []
