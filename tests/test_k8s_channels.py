"""The pods/exec channel codec (gotty_py/kubernetes/channels.py), pure: no sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gotty_py.kubernetes import channels
from gotty_py.kubernetes.channels import (
    Channel,
    ChannelError,
    ExecError,
    ExitStatus,
    Frame,
    Subprotocol,
)


def status(exit_code: int | None, *, reason: str = "NonZeroExitCode") -> bytes:
    """A channel-3 Status as the kubelet writes it (client-go's errorDecoderV4 reads it)."""
    if exit_code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    body: dict[str, object] = {"metadata": {}, "status": "Failure", "reason": reason,
                               "message": "command terminated with non-zero exit code"}
    if exit_code is not None:
        body["details"] = {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}
    return json.dumps(body).encode()


def test_v5_is_preferred_and_v4_accepted() -> None:
    assert [p.value for p in channels.OFFERED] == ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    assert channels.negotiated("v5.channel.k8s.io") is Subprotocol.V5
    assert channels.negotiated("v4.channel.k8s.io") is Subprotocol.V4


@pytest.mark.parametrize("selected", [None, "", "channel.k8s.io", "v3.channel.k8s.io",
                                      "base64.channel.k8s.io"])
def test_older_or_no_subprotocol_is_refused(selected: str | None) -> None:
    with pytest.raises(ChannelError, match="no supported exec subprotocol"):
        channels.negotiated(selected)


def test_server_frames_decode_by_their_channel_byte() -> None:
    assert channels.decode(b"\x01hello") == Frame(Channel.STDOUT, b"hello")
    assert channels.decode(b"\x02err") == Frame(Channel.STDERR, b"err")
    assert channels.decode(b"\x03{}") == Frame(Channel.STATUS, b"{}")
    assert channels.decode(b"\x01") == Frame(Channel.STDOUT, b"")


@pytest.mark.parametrize("message", [b"", b"\x00stdin", b"\x04{}", b"\x05x", b"\xff\x00"])
def test_frames_the_server_may_not_send_are_errors(message: bytes) -> None:
    with pytest.raises(ChannelError):
        channels.decode(message)


def test_stdin_is_split_into_bounded_messages() -> None:
    data = bytes(range(256)) * 300  # 76800 bytes: three pieces
    messages = channels.encode_stdin(data)
    assert all(m[0] == 0 and len(m) <= channels.STDIN_PIECE + 1 for m in messages)
    assert b"".join(m[1:] for m in messages) == data
    assert channels.encode_stdin(b"") == []


def test_resize_is_kubelet_json_on_channel_4() -> None:
    message = channels.encode_resize(132, 43)
    assert message[0] == 4
    assert json.loads(message[1:]) == {"Width": 132, "Height": 43}


@pytest.mark.parametrize("size", [(0, 24), (80, 0), (70000, 24), (-1, -1)])
def test_resize_out_of_range_is_refused(size: tuple[int, int]) -> None:
    with pytest.raises(ChannelError):
        channels.encode_resize(*size)


def test_close_exists_only_on_v5() -> None:
    assert channels.encode_close(Subprotocol.V5) == b"\xff\x00"
    assert channels.encode_close(Subprotocol.V5, Channel.STDOUT) == b"\xff\x01"
    assert channels.encode_close(Subprotocol.V4) is None


def test_status_success_is_exit_0() -> None:
    assert channels.parse_status(status(0)) == ExitStatus(0)


@pytest.mark.parametrize("code", [1, 2, 127, 130, 137, 255])
def test_status_non_zero_exit_code_comes_from_the_cause(code: int) -> None:
    assert channels.parse_status(status(code)) == ExitStatus(code)


def test_a_failure_without_exit_code_is_an_error_not_a_status() -> None:
    body = json.dumps({"status": "Failure", "reason": "InternalError",
                       "message": "container not found (\"app\")"}).encode()
    assert channels.parse_status(body) == ExecError('container not found ("app")',
                                                    "InternalError")
    # NonZeroExitCode without its cause is not trusted to be any number.
    assert isinstance(channels.parse_status(status(None)), ExecError)


@pytest.mark.parametrize("data", [b"", b"not json", b"[1]", b"\xff\xfe", b'"Success"',
                                  json.dumps({"status": "Failure", "reason": "NonZeroExitCode",
                                              "details": {"causes": [{"reason": "ExitCode",
                                                                      "message": "-1"}]}}
                                             ).encode()])
def test_garbage_status_is_an_error(data: bytes) -> None:
    assert isinstance(channels.parse_status(data), ExecError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decode_never_fails_otherwise(message: bytes) -> None:
    """Any bytes: a Frame of an output channel with the rest as data, or a ChannelError."""
    try:
        frame = channels.decode(message)
    except ChannelError:
        assert not message or message[0] not in (1, 2, 3)
    else:
        assert frame.channel.value == message[0] and frame.data == message[1:]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_status_never_raises(data: bytes) -> None:
    assert isinstance(channels.parse_status(data), ExitStatus | ExecError)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_every_exit_code_round_trips(code: int) -> None:
    assert channels.parse_status(status(code)) == ExitStatus(code)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100_000))
def test_stdin_round_trips(data: bytes) -> None:
    assert b"".join(m[1:] for m in channels.encode_stdin(data)) == data
