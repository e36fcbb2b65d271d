"""A real SIP path on 127.0.0.1: Kamailio running deploy/kamailio/kamailio.cfg in front of
SIPp phones, and SIPp callers.

    desk, phone = lab.add_phone("desk"), lab.add_phone("214")
    lab.start_proxy(route_url=with_credentials(url, "office-1", "secret"),
                    fallback_uri=desk.uri)
    outcome = lab.call("+79161234567", "100")   # the route answered phone.uri
    assert outcome.answered_by == "214"

Every process runs in its own process group on ports the kernel picked, and stops by itself
after `lifetime` seconds even if a test never stops it. The `sip_lab` fixture stops them all.
Kamailio and SIPp come from tools/install-sip.sh.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG_TEMPLATE = REPO / "deploy" / "kamailio" / "kamailio.cfg"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
HOST = "127.0.0.1"
TOOLS = ("kamailio", "sipp")
# Kamailio lives in /usr/sbin, which a non-root PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
# Upper bound on any process's life, in seconds (pytest's own timeout is 300 s).
LIFETIME = 600


def tool(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def missing_tools() -> list[str]:
    return [name for name in TOOLS if tool(name) is None]


def require_sip_tools() -> None:
    """Skip when Kamailio or SIPp is missing on a developer's machine; fail under CI, whose
    run must install them (tools/install-sip.sh)."""
    missing = missing_tools()
    if not missing:
        return
    message = (f"{' and '.join(missing)} not installed: run tools/install-sip.sh "
               "(as root; installs the Debian packages kamailio, kamailio-utils-modules, "
               "sip-tester)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def with_credentials(url: str, username: str, password: str) -> str:
    """http://host/path -> http://username:password@host/path, percent-encoded as curl
    (and so Kamailio's http_client) expects."""
    parts = urlsplit(url)
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def render_config(*, listen_port: int, route_url: str, fallback_uri: str,
                  timeout_seconds: int, template: str | None = None) -> str:
    """deploy/kamailio/kamailio.cfg with its settings lines (#!define ...) filled in."""
    text = CONFIG_TEMPLATE.read_text() if template is None else template
    if not isinstance(timeout_seconds, int) or timeout_seconds < 1:
        raise ValueError(f"timeout_seconds must be a whole number >= 1, not {timeout_seconds!r}")
    for value in (route_url, fallback_uri):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError(f"cannot be written into a Kamailio string: {value!r}")
    settings = {
        "SIP_LISTEN": f"udp:{HOST}:{listen_port}",
        "ROUTE_URL": f'"{route_url}"',
        "FALLBACK_URI": f'"{fallback_uri}"',
        "ROUTE_TIMEOUT_SECONDS": str(timeout_seconds),
    }
    for name, value in settings.items():
        text, count = re.subn(rf"^#!define {name} .*$", lambda _: f"#!define {name} {value}",
                              text, flags=re.MULTILINE)
        if count != 1:
            raise ValueError(f"the Kamailio config template has {count} '#!define {name}' lines")
    return text


class Process:
    """A child in its own process group, its output in a file; stop() ends the group."""

    def __init__(self, argv: list[str], log: Path, cwd: Path) -> None:
        self.argv = argv
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, grace: float = 3.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers that outlived their parent are still in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def wait_until(condition, *, timeout: float, step: float = 0.02, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise TimeoutError(f"{what}: not within {timeout} s")


def udp_bound(pid: int, port: int) -> bool:
    """Whether process `pid` (or one of its children) has a UDP socket on `port`."""
    try:
        process = psutil.Process(pid)
        for member in (process, *process.children(recursive=True)):
            if any(c.laddr and c.laddr.port == port
                   for c in member.net_connections(kind="udp")):
                return True
    except psutil.Error:
        return False
    return False


# ---- SIPp message logs (-trace_msg) ---------------------------------------------------------

@dataclass(frozen=True)
class SipMessage:
    at: datetime
    sent: bool
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def status(self) -> int | None:
        match = re.match(r"SIP/2\.0 (\d{3})", self.first_line)
        return int(match.group(1)) if match else None

    @property
    def method(self) -> str | None:
        return None if self.status is not None else self.first_line.split(" ", 1)[0]

    def header(self, name: str) -> str | None:
        match = re.search(rf"^{re.escape(name)}\s*:\s*(.*?)\s*$", self.text,
                          re.MULTILINE | re.IGNORECASE)
        return match.group(1) if match else None

    @property
    def cseq_method(self) -> str | None:
        cseq = self.header("CSeq")
        return cseq.split()[-1] if cseq else None


SEPARATOR = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*$", re.MULTILINE)


def read_messages(path: Path) -> list[SipMessage]:
    """The messages of a SIPp -trace_msg log, in order."""
    if not path.exists():
        return []
    chunks = SEPARATOR.split(path.read_text(errors="replace"))
    messages = []
    for stamp, block in zip(chunks[1::2], chunks[2::2]):
        head, _, text = block.lstrip("\n").partition("\n")
        messages.append(SipMessage(at=datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f"),
                                   sent=" sent " in f" {head} ", text=text.strip("\n")))
    return messages


# ---- the three parts -----------------------------------------------------------------------

@dataclass
class Phone:
    """A SIPp UAS that answers every call, as one extension of the PBX."""

    name: str
    port: int
    process: Process
    message_log: Path

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@{HOST}:{self.port}"

    def invites(self) -> dict[str, str]:
        """Call-ID -> Request-URI of each call that rang this phone, in order. One phone can
        stand for a whole PBX: the Request-URI tells which extension the proxy dialed."""
        seen: dict[str, str] = {}
        for message in read_messages(self.message_log):
            call_id = message.header("Call-ID")
            if not message.sent and message.method == "INVITE" and call_id is not None:
                seen.setdefault(call_id, message.first_line.split(" ")[1])
        return seen

    def calls(self) -> list[str]:
        """The Call-IDs of the calls that rang this phone, in order."""
        return list(self.invites())


@dataclass
class Proxy:
    """Kamailio with the rendered deploy/kamailio/kamailio.cfg."""

    port: int
    config: Path
    process: Process

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def log(self) -> str:
        return self.process.output()


@dataclass(frozen=True)
class CallOutcome:
    call_id: str
    status: int | None          # the final response to the INVITE, None when none came
    answered_by: str | None     # the name of the phone that answered (its X-Phone header)
    elapsed: float | None       # seconds from the first INVITE sent to the final response
    invites_sent: int           # the INVITE and its retransmissions
    exit_code: int              # SIPp's: 0 the scenario ran to its end, 255 timed out
    message_log: Path

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.answered_by is not None


class SipLab:
    """Kamailio, phones and callers under one folder; close() stops them all."""

    def __init__(self, root: Path, *, lifetime: int = LIFETIME) -> None:
        self.root = root
        self.lifetime = lifetime
        root.mkdir(parents=True, exist_ok=True)
        self.proxy: Proxy | None = None
        self.phones: dict[str, Phone] = {}
        self._processes: list[Process] = []

    def _start(self, argv: list[str], log: Path) -> Process:
        process = Process(argv, log, cwd=self.root)
        self._processes.append(process)
        return process

    def start_proxy(self, *, route_url: str, fallback_uri: str, timeout_seconds: int = 1,
                    template: Path = CONFIG_TEMPLATE) -> Proxy:
        """Kamailio asking `route_url` (credentials included, see with_credentials) whom to
        ring, and ringing `fallback_uri` when that fails within `timeout_seconds`."""
        if self.proxy is not None:
            raise RuntimeError("this lab already runs a proxy")
        port = free_udp_port()
        config = self.root / "kamailio.cfg"
        config.write_text(render_config(listen_port=port, route_url=route_url,
                                        fallback_uri=fallback_uri,
                                        timeout_seconds=timeout_seconds,
                                        template=template.read_text()))
        runtime = self.root / "kamailio-run"
        runtime.mkdir(exist_ok=True)
        process = self._start(
            ["timeout", "--kill-after=5", str(self.lifetime), tool("kamailio") or "kamailio",
             "-f", str(config), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(runtime)],
            self.root / "kamailio.log")
        proxy = Proxy(port=port, config=config, process=process)
        try:
            wait_until(lambda: self._proxy_answers(proxy), timeout=10, step=0.05,
                       what=f"Kamailio answering OPTIONS on {proxy.address}")
        except TimeoutError as error:
            raise RuntimeError(f"{error}; its log:\n{process.output()[-4000:]}") from None
        self.proxy = proxy
        return proxy

    @staticmethod
    def _proxy_answers(proxy: Proxy) -> bool:
        if not proxy.process.running():
            raise RuntimeError(f"Kamailio exited ({proxy.process.popen.returncode}):\n"
                               f"{proxy.process.output()[-4000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((HOST, 0))
            probe.settimeout(0.2)
            here = probe.getsockname()[1]
            probe.sendto(options_request(proxy.port, here).encode(), (HOST, proxy.port))
            try:
                return probe.recv(4096).startswith(b"SIP/2.0 200")
            except (TimeoutError, ConnectionRefusedError):
                return False

    def add_phone(self, name: str, *, ring_ms: int = 0, port: int | None = None) -> Phone:
        """A phone (an extension named `name`, e.g. "214") that answers after `ring_ms`, on
        `port` (one free_udp_port() gave earlier, e.g. written into a dial template) or on
        any free one."""
        if name in self.phones:
            raise ValueError(f"phone {name!r} exists")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise ValueError(f"phone name {name!r}: letters, digits and _.+- only")
        port = port or free_udp_port()
        message_log = self.root / f"phone-{name}.msg"
        process = self._start(
            [tool("sipp") or "sipp", "-sf", str(SCENARIOS / "phone.xml"),
             "-i", HOST, "-p", str(port), "-cp", str(free_udp_port()),
             "-key", "phone", name, "-d", str(ring_ms),
             "-trace_msg", "-message_file", str(message_log),
             "-nostdin", "-timeout", f"{self.lifetime}s"],
            self.root / f"phone-{name}.out")
        wait_until(lambda: not process.running() or udp_bound(process.pid, port), timeout=10,
                   what=f"phone {name} listening on {HOST}:{port}")
        if not process.running():
            raise RuntimeError(f"phone {name} exited:\n{process.output()[-4000:]}")
        phone = Phone(name=name, port=port, process=process, message_log=message_log)
        self.phones[name] = phone
        return phone

    def call(self, caller: str, dialed: str, *, retransmit_invite: bool = False,
             hang_up_after_ms: int | None = None, timeout: float = 15.0) -> CallOutcome:
        """`caller` (the From user) calls `dialed` (the Request-URI user) through the proxy,
        and hangs up once answered. With `retransmit_invite`, the caller sends its INVITE
        again 200 ms after the first, as a caller that missed the 100 Trying would (the same
        branch: the proxy sees a retransmission). With `hang_up_after_ms`, the caller
        cancels that long after the 100 Trying instead of waiting for an answer."""
        if self.proxy is None:
            raise RuntimeError("start_proxy() first")
        if retransmit_invite and hang_up_after_ms is not None:
            raise ValueError("retransmit_invite or hang_up_after_ms, not both")
        call_id = f"{uuid.uuid4().hex}@switchboard.test"
        tag = uuid.uuid4().hex[:8]
        inject = self.root / f"caller-{tag}.csv"
        inject.write_text(f"SEQUENTIAL\n{caller};\n")
        message_log = self.root / f"caller-{tag}.msg"
        scenario = ("caller_retransmits.xml" if retransmit_invite
                    else "caller_hangs_up.xml" if hang_up_after_ms is not None
                    else "caller.xml")
        argv = [tool("sipp") or "sipp", "-sf", str(SCENARIOS / scenario),
                "-inf", str(inject), "-s", dialed, self.proxy.address,
                "-i", HOST, "-p", str(free_udp_port()), "-cp", str(free_udp_port()),
                "-cid_str", call_id, "-m", "1",
                "-trace_msg", "-message_file", str(message_log),
                # -timeout_error: else a caller still in a call ignores -timeout.
                "-nostdin", "-timeout", f"{max(1, round(timeout))}s", "-timeout_error"]
        if retransmit_invite:
            argv.append("-nr")   # see the scenario
        if hang_up_after_ms is not None:
            argv += ["-d", str(hang_up_after_ms)]
        process = self._start(argv, self.root / f"caller-{tag}.out")
        try:
            exit_code = process.popen.wait(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            exit_code = -1
        finally:
            process.stop()
        return outcome_of(call_id, message_log, exit_code)

    async def call_async(self, caller: str, dialed: str, **options) -> CallOutcome:
        """call(), off the event loop (for asyncio tests)."""
        return await asyncio.to_thread(self.call, caller, dialed, **options)

    def close(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()


def options_request(proxy_port: int, local_port: int) -> str:
    return "\r\n".join([
        f"OPTIONS sip:{HOST}:{proxy_port} SIP/2.0",
        f"Via: SIP/2.0/UDP {HOST}:{local_port};branch=z9hG4bK-{uuid.uuid4().hex}",
        f"From: <sip:probe@{HOST}:{local_port}>;tag={uuid.uuid4().hex[:8]}",
        f"To: <sip:{HOST}:{proxy_port}>",
        f"Call-ID: {uuid.uuid4().hex}@{HOST}",
        "CSeq: 1 OPTIONS",
        "Max-Forwards: 70",
        "Content-Length: 0",
        "", ""])


def outcome_of(call_id: str, message_log: Path, exit_code: int) -> CallOutcome:
    messages = read_messages(message_log)
    invites = [m for m in messages if m.sent and m.method == "INVITE"]
    final = next((m for m in messages
                  if not m.sent and m.cseq_method == "INVITE" and (m.status or 0) >= 200), None)
    elapsed = (final.at - invites[0].at).total_seconds() if final and invites else None
    answered_by = final.header("X-Phone") if final is not None and final.status == 200 else None
    return CallOutcome(call_id=call_id, status=final.status if final else None,
                       answered_by=answered_by, elapsed=elapsed, invites_sent=len(invites),
                       exit_code=exit_code, message_log=message_log)


@pytest.fixture
def sip_lab(tmp_path: Path) -> Iterator[SipLab]:
    """A SipLab in the test's tmp folder; skips (fails under CI) without Kamailio and SIPp."""
    require_sip_tools()
    lab = SipLab(tmp_path / "sip")
    try:
        yield lab
    finally:
        lab.close()
