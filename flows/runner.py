"""The warm runner: a small local process that runs the CLI's flows with Prefect already loaded.

``import prefect`` costs a command about a second and its teardown half a second more; a
coordinator's ``case fire`` should not pay that each time. The first flow-running command
starts a runner beside the embedded Prefect server (in the server's home, under a file
lock, so two commands start one); the next commands hand it the flow's name and its
id-only parameters (case id, event, time, staged input id — never personal data) and get
back the final state's name, its one-line message, the exit code a refusal maps to, and
the result. The CLI itself never imports prefect.

- One runner per server home *and* per setting that changes what a flow does: the runner is
  keyed by a hash of the working directory, the Prefect server's address and every
  ``FORLOEB_*``/``PREFECT_*`` variable (database, SMTP, extra days off…), and it runs with
  exactly that environment. A command with other settings gets a runner of its own; the
  runner checks the key of every request and refuses one that does not match.
  ``FORLOEB_NOW`` (the simulated clock) is passed with each request instead.
- Loopback TCP with a secret: ``runner-<key>.json`` (mode 0600) holds its port and a
  random secret that every request must carry. Not a Unix socket: a home under a deep
  directory would exceed the 108 bytes a socket path may have.
- It exits after ``FORLOEB_RUNNER_IDLE_SECONDS`` (900) without a request; ``forloeb server
  stop`` stops it (and every other runner of that home) before the server.
- ``FORLOEB_RUNNER=off`` runs flows in the command's own process, as does a runner that
  cannot start (the command then pays the import, nothing else changes).

Nothing in this module imports prefect; the runner process does, in ``serve()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machines import ForloebError

#: The flows a command may ask for (their parameters are ids, event names and times).
FLOWS = frozenset({"case_event", "open_case_flow", "sweep"})
START_TIMEOUT = 60.0  # the runner imports Prefect: 1–3 s, far more on a busy machine
IDLE_SECONDS = 900.0
#: Variables that are not part of a runner's key: the clock travels with each request;
#: the switch itself is the command's business.
_PER_REQUEST = frozenset({"FORLOEB_NOW", "FORLOEB_RUNNER", "FORLOEB_RUNNER_IDLE_SECONDS"})
_COMMAND_MARKER = "flows.runner"


@dataclass(frozen=True)
class Outcome:
    """A flow run's end as the CLI needs it."""

    completed: bool
    state: str
    message: str | None
    exit_code: int  # what a Failed state's name maps to (2, 3, 4; 1 otherwise)
    result: Any


class RunnerError(ForloebError):
    """The runner answered with an error the command must show (message, exit code)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def enabled() -> bool:
    """Use a runner: the embedded server (not an external one), not switched off."""
    if os.environ.get("FORLOEB_RUNNER", "").lower() in ("off", "0", "false", "no"):
        return False
    if os.environ.get("FORLOEB_DEBUG") == "1":
        return False  # a traceback should come from the command, where it can be read
    return not os.environ.get("PREFECT_API_URL")


def settings_key(api_url: str, environ: dict[str, str] | None = None) -> str:
    """Everything that makes two commands' flows behave alike, as 16 hex digits."""
    environ = dict(os.environ if environ is None else environ)
    relevant = sorted(
        (name, value)
        for name, value in environ.items()
        if name.startswith(("FORLOEB_", "PREFECT_")) and name not in _PER_REQUEST
    )
    identity = json.dumps({"cwd": os.getcwd(), "api": api_url, "env": relevant})
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _state_file(directory: Path, key: str) -> Path:
    return directory / f"runner-{key}.json"


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text())
        return {"pid": int(raw["pid"]), "port": int(raw["port"]), "secret": str(raw["secret"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_runner(pid: int) -> bool:
    try:
        return _COMMAND_MARKER.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


# ------------------------------------------------------------------ the command's side


def call(
    directory: Path,
    api_url: str,
    flow: str,
    parameters: dict[str, Any],
    tags: tuple[str, ...] = (),
) -> Outcome | None:
    """Run ``flow`` in the runner of this home and these settings; None: no runner (run it
    in this process instead). A runner that answers but fails raises ``RunnerError``."""
    if flow not in FLOWS:
        raise ValueError(f"not a runner flow: {flow}")
    key = settings_key(api_url)
    request = {
        "key": key,
        "flow": flow,
        "parameters": parameters,
        "tags": list(tags),
        "now": os.environ.get("FORLOEB_NOW"),
    }
    state = _read_state(_state_file(directory, key))
    if state is None or not _connectable(state):
        state = _start(directory, key)
        if state is None:
            return None
    return _exchange(state, request, directory)


def _connectable(state: dict[str, Any]) -> bool:
    return _is_runner(state["pid"])


def _exchange(state: dict[str, Any], request: dict[str, Any], directory: Path) -> Outcome | None:
    try:
        sock = socket.create_connection(("127.0.0.1", state["port"]), timeout=5)
    except OSError:
        return None  # it has just exited (idle): this command runs the flow itself
    with sock:
        sock.settimeout(None)  # a sweep takes as long as it takes
        sock.sendall(json.dumps({**request, "secret": state["secret"]}).encode() + b"\n")
        reply = sock.makefile("rb").readline()
    if not reply:
        raise RunnerError(
            f"the flow runner stopped while running the flow; see {directory / 'runner.log'}", 1
        )
    answer = json.loads(reply)
    for line in answer.get("warnings") or ():
        print(line, file=sys.stderr)  # as an in-process run's "forloeb" logger says them
    if "error" in answer:
        raise RunnerError(str(answer["error"]), int(answer.get("exit_code", 1)))
    return Outcome(
        completed=bool(answer["completed"]),
        state=str(answer["state"]),
        message=answer.get("message"),
        exit_code=int(answer.get("exit_code", 1)),
        result=answer.get("result"),
    )


def _start(directory: Path, key: str, timeout: float = START_TIMEOUT) -> dict[str, Any] | None:
    """Start this key's runner unless it is up; two commands at once start one."""
    path = _state_file(directory, key)
    try:
        lock = open(directory / f"runner-{key}.lock", "w")  # noqa: SIM115 (closed below)
    except OSError:
        return None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _read_state(path)
        if state is not None and _connectable(state):
            return state
        path.unlink(missing_ok=True)
        try:
            with open(directory / "runner.log", "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", _COMMAND_MARKER, str(directory), key],
                    env=dict(os.environ),  # exactly the settings the key was made of
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives this command; not killed by its Ctrl-C
                )
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = _read_state(path)
            if state is not None and state["pid"] == process.pid:
                return state
            if process.poll() is not None:
                return None
            time.sleep(0.02)
        process.terminate()
        return None


def stop(directory: Path, timeout: float = 15.0) -> int:
    """Stop every runner of this home; how many were running."""
    stopped = 0
    for path in sorted(directory.glob("runner-*.json")):
        state = _read_state(path)
        path.unlink(missing_ok=True)
        if state is None or not _is_runner(state["pid"]):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(state["pid"], signal.SIGTERM)
        stopped += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_runner(state["pid"]):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(state["pid"], os.WNOHANG)  # reap it when it is our own child
            time.sleep(0.05)
        if _is_runner(state["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["pid"], signal.SIGKILL)
    return stopped


# ------------------------------------------------------------------ the runner's side


def _idle_seconds() -> float:
    try:
        return float(os.environ.get("FORLOEB_RUNNER_IDLE_SECONDS") or IDLE_SECONDS)
    except ValueError:
        return IDLE_SECONDS


async def _serve(directory: Path, key: str) -> None:
    from . import launch, prefect_flows

    secret = secrets.token_hex(32)
    busy = asyncio.Lock()  # one flow at a time: FORLOEB_NOW is per request
    last_request = time.monotonic()
    active = 0  # connections being answered
    done = asyncio.Event()

    async def run_one(request: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request, with the warnings our loggers said while it ran."""
        said: list[str] = []
        handler = _Collect(said)
        ours = logging.getLogger("forloeb")
        ours.addHandler(handler)
        # "Said once per process": here, the command is the process.
        with contextlib.suppress(ImportError, AttributeError):
            from notifications import smtp

            smtp._SAID_PLAINTEXT.clear()
        try:
            answer = await answer_one(request)
        finally:
            ours.removeHandler(handler)
        return {**answer, "warnings": said}

    async def answer_one(request: dict[str, Any]) -> dict[str, Any]:
        if not hmac.compare_digest(str(request.get("secret", "")), secret):
            return {"error": "the flow runner refused a request without its secret"}
        if request.get("key") != key or request.get("flow") not in FLOWS:
            return {"error": "the flow runner refused a request for other settings"}
        now = request.get("now")
        if now:
            os.environ["FORLOEB_NOW"] = str(now)
        else:
            os.environ.pop("FORLOEB_NOW", None)
        flow = getattr(prefect_flows, str(request["flow"]))
        tags = tuple(str(tag) for tag in request.get("tags") or ())
        try:
            with launch.reaching(os.environ["PREFECT_API_URL"]):
                outcome = await launch.run_flow(flow, dict(request.get("parameters") or {}), tags)
        except ForloebError as exc:
            return {"error": str(exc), "exit_code": exc.exit_code}
        except Exception as exc:  # the command shows one line; the details are in the log
            import traceback

            traceback.print_exc()
            sys.stdout.flush()
            return {
                "error": f"unexpected {type(exc).__name__} in the flow runner; "
                f"see {directory / 'runner.log'}",
                "exit_code": 1,
            }
        return {
            "completed": outcome.completed,
            "state": outcome.state,
            "message": outcome.message,
            "exit_code": outcome.exit_code,
            "result": outcome.result,
        }

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal last_request, active
        active += 1  # the runner does not exit while a command waits for its answer
        last_request = time.monotonic()
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
            except ValueError:
                return
            async with busy:
                answer = await run_one(request if isinstance(request, dict) else {})
                last_request = time.monotonic()
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()
            active -= 1

    async def idle_exit() -> None:
        idle = _idle_seconds()
        while True:
            left = idle - (time.monotonic() - last_request)
            if left <= 0 and not active:
                done.set()
                return
            await asyncio.sleep(max(0.5, min(left, 30.0)))

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)
    path = _state_file(directory, key)
    async with launch.one_client():
        listener = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        written = path.with_suffix(".tmp")
        with open(os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            json.dump({"pid": os.getpid(), "port": port, "secret": secret}, out)
        os.replace(written, path)  # a command reads it whole or not at all
        watcher = asyncio.create_task(idle_exit())
        try:
            await done.wait()
        finally:
            watcher.cancel()
            state = _read_state(path)
            if state is not None and state["pid"] == os.getpid():
                path.unlink(missing_ok=True)
            listener.close()
            await asyncio.sleep(0.1)  # a connection accepted just before has its handler
            while active:  # a flow run in progress ends, and its command gets its answer
                await asyncio.sleep(0.05)
    launch.drain()


class _Collect(logging.Handler):
    def __init__(self, said: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.said = said
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(self.format(record))


def main(argv: list[str]) -> None:
    directory, key = Path(argv[0]), argv[1]
    from . import server

    server.configure(directory=directory)
    asyncio.run(_serve(directory, key))


if __name__ == "__main__":
    main(sys.argv[1:])
