"""The pure webtty codec: every rule of gotty-spec §2, checked without I/O."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from gotty_py.webtty import protocol
from gotty_py.webtty.protocol import (
    ClientFrameDecoder,
    Input,
    Ping,
    ProtocolError,
    Resize,
    SetEncoding,
    parse_arguments,
    parse_init,
)


class TestInit:
    def test_keys_are_case_insensitive(self) -> None:
        init = parse_init(b'{"arguments": "?arg=a", "AUTHTOKEN": "u:p"}')
        assert init == protocol.InitMessage("?arg=a", "u:p", False)

    def test_missing_and_null_keys_are_empty(self) -> None:
        assert parse_init(b"{}") == protocol.InitMessage()
        assert parse_init(b'{"AuthToken": null}').auth_token == ""

    def test_extension_flag(self) -> None:
        assert parse_init(b'{"GottyPy": 1}').gotty_py is True

    @pytest.mark.parametrize("frame", [b"", b"not json", b"[1,2]", b'"str"', b"\xff\xfe",
                                       b'{"AuthToken": 5}', b'{"Arguments": ["x"]}', b"NaN"])
    def test_malformed_init_is_an_error(self, frame: bytes) -> None:
        with pytest.raises(ProtocolError, match="malformed init"):
            parse_init(frame)


class TestClientFrames:
    def test_raw_input_keeps_every_byte(self) -> None:
        assert ClientFrameDecoder().decode(b"1\xff\xfe\x00abc") == Input(b"\xff\xfe\x00abc")

    def test_ping_with_any_payload(self) -> None:
        assert ClientFrameDecoder().decode(b"2whatever") == Ping()

    def test_base64_mode_switches_on_and_off(self) -> None:
        decoder = ClientFrameDecoder()
        assert decoder.decode(b"4base64") == SetEncoding(True)
        assert decoder.decode(b"1" + base64.b64encode(b"\x00hi")) == Input(b"\x00hi")
        assert decoder.decode(b"4null") == SetEncoding(False)
        assert decoder.decode(b"1aGk=") == Input(b"aGk=")

    def test_unknown_encoding_value_is_ignored(self) -> None:
        decoder = ClientFrameDecoder()
        decoder.decode(b"4base64")
        assert decoder.decode(b"4utf-16") == SetEncoding(True)

    def test_invalid_base64_is_an_error(self) -> None:
        decoder = ClientFrameDecoder()
        decoder.decode(b"4base64")
        with pytest.raises(ProtocolError, match="invalid base64"):
            decoder.decode(b"1!!!")

    @pytest.mark.parametrize("frame", [b"", b"0", b"0abc", b"9", b"x", b"\x00"])
    def test_unknown_or_empty_frames_are_errors(self, frame: bytes) -> None:
        with pytest.raises(ProtocolError):
            ClientFrameDecoder().decode(frame)


class TestResize:
    def test_case_insensitive_and_truncated(self) -> None:
        assert ClientFrameDecoder().decode(b'3{"Columns":80.9,"ROWS":24.2}') == Resize(80, 24)

    def test_missing_keys_are_zero(self) -> None:
        assert ClientFrameDecoder().decode(b"3{}") == Resize(0, 0)

    def test_gotty_client_order(self) -> None:
        assert ClientFrameDecoder().decode(b'3{"rows":30,"columns":100}') == Resize(100, 30)

    @pytest.mark.parametrize("payload", [b"", b"{", b"[]", b'{"columns":"80"}',
                                         b'{"columns":-1}', b'{"rows":70000}',
                                         b'{"columns":true}', b'{"rows":1e400}'])
    def test_bad_resize_is_an_error(self, payload: bytes) -> None:
        with pytest.raises(ProtocolError):
            ClientFrameDecoder().decode(b"3" + payload)


class TestArguments:
    def test_values_in_order_with_form_decoding(self) -> None:
        assert parse_arguments("?arg=a&arg=b%20c&arg=d+e") == ["a", "b c", "d e"]

    def test_everything_before_the_question_mark_is_ignored(self) -> None:
        assert parse_arguments("http://h/p?arg=x#frag&arg=y") == ["x"]

    def test_empty_value_is_an_empty_argument(self) -> None:
        assert parse_arguments("?arg=&arg") == ["", ""]

    @pytest.mark.parametrize("text", ["arg=X", "?ARG=x", "?arg=%ZZ", "?arg=a;b", "", "?",
                                      "?other=1"])
    def test_nothing_appended(self, text: str) -> None:
        assert parse_arguments(text) == []

    def test_bad_pairs_are_dropped_but_good_ones_kept(self) -> None:
        assert parse_arguments("?arg=1&arg=%ZZ&arg=a;b&arg=2") == ["1", "2"]

    def test_non_utf8_bytes_survive_as_surrogates(self) -> None:
        (value,) = parse_arguments("?arg=%FF")
        assert value.encode("utf-8", "surrogateescape") == b"\xff"

    def test_control_characters_are_an_error(self) -> None:
        with pytest.raises(ProtocolError):
            parse_arguments("?arg=a\nb")

    def test_matches_the_stdlib_for_well_formed_queries(self) -> None:
        """An independent implementation (urllib) agrees where Go's rules and it coincide."""
        query = urllib.parse.urlencode([("arg", "x y"), ("z", "1"), ("arg", "ü&=")])
        expected = [v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
                    if k == "arg"]
        assert parse_arguments("?" + query) == expected


class TestServerMessages:
    def test_output_is_padded_standard_base64(self) -> None:
        assert protocol.encode_output(b"\xfb\xff") == "1+/8="

    def test_preferences_use_dashed_keys(self) -> None:
        frame = protocol.encode_preferences({"font_size": 20, "background_color": "#000"})
        assert frame == '4{"background-color":"#000","font-size":20}'

    def test_simple_frames(self) -> None:
        assert protocol.encode_pong() == "2"
        assert protocol.encode_title("t é") == "3t é"
        assert protocol.encode_reconnect(10) == "510"
        assert protocol.encode_buffer_size() == "61024"

    def test_close_reason_fits_a_control_frame(self) -> None:
        reason = protocol.close_reason("é" * 200)
        assert len(reason.encode("utf-8")) <= 123
        assert reason.endswith("...")


class TestInputChunks:
    """A large input message in pieces joins to what `decode` gives, errors included."""

    @pytest.mark.parametrize("size", [4, 5, 1000])
    def test_raw_and_base64_pieces_join_to_the_whole(self, size: int) -> None:
        data = bytes(range(256)) * 9 + b"tail"
        raw = protocol.ClientFrameDecoder()
        assert b"".join(raw.input_chunks(b"1" + data, size)) == data
        encoded = protocol.ClientFrameDecoder()
        encoded.decode(b"4base64")
        frame = b"1" + base64.b64encode(data)
        pieces = list(encoded.input_chunks(frame, size))
        assert b"".join(pieces) == encoded.decode(frame).data  # type: ignore[union-attr]
        assert all(len(piece) <= max(3, size // 4 * 3) for piece in pieces)

    @pytest.mark.parametrize("payload", [b"QQ==QUFB", b"QUF!QUFB", b"QUFBQ"])
    def test_malformed_base64_fails_as_a_whole_would(self, payload: bytes) -> None:
        decoder = protocol.ClientFrameDecoder()
        decoder.decode(b"4base64")
        with pytest.raises(protocol.ProtocolError):
            decoder.decode(b"1" + payload)
        with pytest.raises(protocol.ProtocolError, match="invalid base64"):
            list(decoder.input_chunks(b"1" + payload, 4))
