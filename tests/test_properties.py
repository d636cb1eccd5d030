"""Property-based tests (hypothesis) of everything that reads what a client sends.

Each property is "whatever arrives, the only outcomes are the documented ones": a value,
or the module's own refusal (`ProtocolError`, `JsonRejected`, `TokenRejected`), never
another exception; and the session, driven through the in-memory `Master` and `Slave` of
tests/fakes.py with any frames in any order, always ends with a documented close code
and nothing raised out of it. The end-to-end counterpart (random frames against a real
server) is in tests/test_hostile_input.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gotty_py import boundedjson
from gotty_py.auth.jwt import LaunchTokenVerifier, TokenRejected, VerifiedLaunch
from gotty_py.options import Options
from gotty_py.webtty import protocol
from gotty_py.webtty.protocol import CloseCode, ProtocolError
from gotty_py.webtty.session import Launch, Refused, Session, SessionPlugins, SessionSettings
from gotty_py.webtty.state import EndCause
from tests.fakes import InMemoryBackend, RecordingMaster
from tests.gotty import run_async
from tests.jwt_keys import handmade, write_secret

FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Any JSON value, with integers of any size (the 400-digit kind), every float (inf and NaN
# become Infinity/NaN tokens, which are not JSON), any text (lone surrogates included).
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-10**500, 10**500)
                | st.floats() | st.text())
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)


def nested(depth: int, opener: str) -> str:
    """`depth` arrays, or objects, inside one another: valid JSON at any depth."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


deep_text = st.builds(nested, st.integers(0, 20_000), st.sampled_from("[{"))
any_payload = (st.binary(max_size=200)
               | json_values.map(lambda v: json.dumps(v).encode())
               | deep_text.map(str.encode)
               | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))


# --- boundedjson --------------------------------------------------------------------------

def reference_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((reference_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(item) for item in value.values()), default=0)
    return 0


def refusable(value: Any) -> bool:
    """What boundedjson refuses in valid Python JSON: NaN/Infinity, a number longer than
    its limit, a string or key with a lone surrogate."""
    if isinstance(value, float):
        return not math.isfinite(value) or len(repr(value)) > boundedjson.MAX_NUMBER_LENGTH
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(value)) > boundedjson.MAX_NUMBER_LENGTH
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(refusable(item) for item in value)
    if isinstance(value, dict):
        return any(refusable(key) or refusable(item) for key, item in value.items())
    return False


@FAST
@given(json_values)
def test_boundedjson_agrees_with_json_within_bounds(value: Any) -> None:
    text = json.dumps(value)
    assert boundedjson.nesting_depth(text) == reference_depth(value)
    try:
        parsed = boundedjson.loads(text)
    except boundedjson.JsonRejected:
        assert refusable(value)  # refused only for a reason of its own
        return
    assert not refusable(value)
    assert json.dumps(parsed) == text


@FAST
@given(any_payload)
def test_boundedjson_only_ever_rejects(data: bytes) -> None:
    try:
        boundedjson.loads(data)
    except boundedjson.JsonRejected as exc:
        assert str(exc)


@FAST
@given(st.integers(0, 200_000), st.sampled_from(["[", '{"k":', '"a", [']))
def test_depth_is_bounded_whatever_the_depth(depth: int, opener: str) -> None:
    text = opener * depth
    if depth > boundedjson.MAX_DEPTH:
        with pytest.raises(boundedjson.JsonRejected):
            boundedjson.loads(text)


# --- the frame decoder, init and resize ---------------------------------------------------

@FAST
@given(st.lists(st.binary(max_size=64) | st.sampled_from(
    [b"4base64", b"4null", b"1%%%", b"1AAAA", b"2", b"3{}", b"3", b"0", b""])
    | st.tuples(st.sampled_from(b"0123456789"), any_payload).map(lambda t: bytes([t[0]]) + t[1]),
    max_size=20))
def test_frame_decoder_returns_an_event_or_a_protocol_error(frames: list[bytes]) -> None:
    decoder = protocol.ClientFrameDecoder()
    for frame in frames:
        try:
            event = decoder.decode(frame)
        except ProtocolError as exc:
            assert str(exc)
            continue
        assert isinstance(event, protocol.Input | protocol.Ping | protocol.Resize
                          | protocol.SetEncoding)


@FAST
@given(any_payload | st.dictionaries(st.sampled_from(["Arguments", "AuthToken", "GottyPy",
                                                       "arguments", "x"]), json_values)
       .map(lambda d: json.dumps(d).encode()))
def test_init_parser(frame: bytes) -> None:
    try:
        init = protocol.parse_init(frame)
    except ProtocolError as exc:
        assert str(exc).startswith("malformed init message")
        return
    init.arguments.encode("utf-8")  # no lone surrogate reaches the grant
    init.auth_token.encode("utf-8")


sizes = (st.integers() | st.integers(-10**450, 10**450) | st.floats() | st.none() | st.text()
         | st.booleans() | st.lists(st.integers(), max_size=2))


@FAST
@given(sizes, sizes, st.booleans())
def test_resize_parser(columns: Any, rows: Any, extra: bool) -> None:
    body: dict[str, Any] = {"columns": columns, "rows": rows}
    if extra:
        body["other"] = [[[]]]
    payload = json.dumps(body).encode()
    try:
        resize = protocol.parse_resize(payload)
    except ProtocolError as exc:
        assert str(exc).startswith("malformed resize message")
        return
    for given_value, parsed in ((columns, resize.columns), (rows, resize.rows)):
        assert 0 <= parsed <= protocol.MAX_DIMENSION
        if given_value is None:
            assert parsed == 0
        else:
            assert isinstance(given_value, int | float) and not isinstance(given_value, bool)
            assert math.isfinite(given_value) and parsed == int(given_value)


@FAST
@given(any_payload)
def test_resize_parser_any_bytes(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        protocol.parse_resize(payload)


@FAST
@given(st.text() | st.text(alphabet="?&=;%+#abc\x00\x7f\udc80\ud800é", max_size=40))
def test_parse_query(arguments: str) -> None:
    try:
        values = protocol.parse_query(arguments)
    except ProtocolError as exc:
        assert str(exc).startswith("malformed arguments")
        return
    for name, items in values.items():
        name.encode("utf-8", "surrogateescape")
        for item in items:
            item.encode("utf-8", "surrogateescape")  # exec can pass it on as bytes


# --- the token checks, with a real signature ----------------------------------------------

@pytest.fixture(scope="module")
def verifier_and_secret(tmp_path_factory: pytest.TempPathFactory
                        ) -> tuple[LaunchTokenVerifier, bytes]:
    directory: Path = tmp_path_factory.mktemp("prop-jwt")
    secret = write_secret(directory / "secret")
    from gotty_py.auth.jwt import verifier_from_options
    verifier = verifier_from_options(Options(jwt_secret_file=str(directory / "secret"),
                                             jwt_audience="console", jwt_issuer="portal"))
    assert verifier is not None
    return verifier, secret


CLAIM_NAMES = ["exp", "iat", "nbf", "jti", "sub", "args", "write", "aud", "iss", "other"]
times = (st.integers(-10**450, 10**450) | st.floats() | st.integers(0, 2**60)
         | st.just("now") | json_values)


def _claims(chosen: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iat": now, "exp": now + 60, "jti": "j", "sub": "u",
                            "aud": "console", "iss": "portal"}
    for key, value in chosen.items():
        base[key] = now if value == "now" else value
    return base


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(CLAIM_NAMES), times, max_size=5), st.integers())
def test_token_checks(verifier_and_secret: tuple[LaunchTokenVerifier, bytes],
                      chosen: dict[str, Any], salt: int) -> None:
    """Any claim values, validly signed: a grant or a TokenRejected with a reason."""
    verifier, secret = verifier_and_secret
    payload = _claims(chosen)
    payload["jti"] = f"{payload['jti']}-{salt}-{time.monotonic_ns()}" if isinstance(
        payload["jti"], str) else payload["jti"]
    try:
        token = handmade({"alg": "HS256", "typ": "JWT"}, payload, hmac_key=secret)
    except ValueError:  # NaN/Infinity: json.dumps writes them, no issuer sends them
        token = handmade({"alg": "HS256"}, {"bad": "x"}, hmac_key=secret)
    try:
        granted = run_async(verifier.verify(token))
    except TokenRejected as exc:
        assert exc.reason and exc.failure
        return
    assert isinstance(granted, VerifiedLaunch)
    for arg in granted.args:
        arg.encode("utf-8")
    if granted.user is not None:
        granted.user.encode("utf-8")


# --- the session, any frames in any order -------------------------------------------------

DOCUMENTED = {CloseCode.NORMAL, CloseCode.PROTOCOL_ERROR, CloseCode.POLICY_VIOLATION}
GOOD_INIT = json.dumps({"Arguments": "", "AuthToken": ""}).encode()

steps = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.sampled_from([
            GOOD_INIT, b"1abc", b"2", b"4base64", b"4null", b"1QUJD",
            b'3{"columns":80,"rows":24}', b"3" + b"[" * 5000, b'3{"rows":1e999}'])),
        st.tuples(st.just("text"), any_payload),
        st.tuples(st.just("binary"), st.binary(max_size=16)),
        st.tuples(st.just("output"), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("yield"), st.just(b"")),
        st.tuples(st.just("close"), st.just(b"")),
    ), max_size=25)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _drive(sequence: list[tuple[str, bytes]], refuse: bool) -> tuple[Any, RecordingMaster]:
    master = RecordingMaster()
    backend = InMemoryBackend(spawn_yields=1)

    async def grant(init: protocol.InitMessage) -> Launch:
        if refuse:
            raise Refused("unauthorized")
        return Launch(argv=("fake",), permit_write=True)

    session = Session(master, SessionSettings(render_title=lambda facts, v: "t"), backend,
                      SessionPlugins(grant=grant))
    for kind, data in sequence:
        if kind in ("text", "binary"):
            wait = session.receive(data, binary=kind == "binary")
            if wait is not None:
                await asyncio.wait_for(wait, 5)
        elif kind == "output" and backend.slaves:
            backend.slaves[0]._output.put_nowait(data)
        elif kind == "close":
            session.client_closed()
        await asyncio.sleep(0)
    session.client_closed()
    end = await asyncio.wait_for(session.wait(), 5)
    return end, master


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_session_always_ends_with_a_documented_code(sequence: list[tuple[str, bytes]],
                                                    refuse: bool) -> None:
    errors = _Errors()
    logger = logging.getLogger("gotty_py")
    logger.addHandler(errors)
    try:
        end, master = run_async(_drive(sequence, refuse))
    finally:
        logger.removeHandler(errors)
    assert not errors.records, [r.getMessage() for r in errors.records]
    assert end.cause is not EndCause.INTERNAL_ERROR
    if end.close_code is None:
        assert end.cause is EndCause.CLIENT_CLOSED and master.closed is None
    else:
        assert end.close_code in DOCUMENTED
        assert master.closed is not None and master.closed[0] == end.close_code
        assert len(master.closed[1].encode()) <= protocol.MAX_CLOSE_REASON_BYTES
