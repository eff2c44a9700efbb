//! Server-to-client WebSocket frames (RFC 6455 §5.2), built once and written
//! as they are: a server frame is unmasked, so the same bytes can go to every
//! subscriber. Reading client frames (masked, fragmented, control frames) is
//! left to tungstenite.

use bytes::Bytes;

pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;

/// Length of the header of an unmasked frame carrying `len` payload bytes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// Writes a frame whose payload length is known up front, with one allocation.
pub struct Builder {
    buf: Vec<u8>,
    header: usize,
    len: usize,
}

/// The header of an unmasked, unfragmented frame: its bytes are the first
/// `header_len(len)` of the array.
fn header(opcode: u8, len: usize) -> [u8; 10] {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode; // FIN: never fragmented
    match header_len(len) {
        2 => h[1] = len as u8,
        4 => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        }
    }
    h
}

impl Builder {
    pub fn new(opcode: u8, len: usize) -> Builder {
        let header = header_len(len);
        let mut buf = Vec::with_capacity(header + len);
        buf.extend_from_slice(&self::header(opcode, len)[..header]);
        Builder { buf, header, len }
    }

    pub fn text(len: usize) -> Builder {
        Builder::new(OP_TEXT, len)
    }

    pub fn push(&mut self, part: &[u8]) {
        self.buf.extend_from_slice(part);
    }

    /// The frame and the offset of its payload.
    pub fn finish(self) -> (Bytes, usize) {
        assert_eq!(
            self.buf.len(),
            self.header + self.len,
            "frame payload length differs from its header"
        );
        (Bytes::from(self.buf), self.header)
    }
}

/// A whole frame around `payload`.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut b = Builder::new(opcode, payload.len());
    b.push(payload);
    b.finish().0
}

/// A text frame.
pub fn text(payload: &str) -> Bytes {
    frame(OP_TEXT, payload.as_bytes())
}

/// A text frame whose payload `write` appends to a buffer allocated once at
/// about `hint` bytes: a large answer is serialized straight into its frame
/// (no doubling growth of a string, no copy of it into the frame). The
/// header, whose length depends on the payload's, goes in front after.
pub fn text_with(hint: usize, write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    const ROOM: usize = 10;
    let mut buf = Vec::with_capacity(ROOM + hint);
    buf.resize(ROOM, 0);
    write(&mut buf);
    let len = buf.len() - ROOM;
    let n = header_len(len);
    let start = ROOM - n;
    buf[start..ROOM].copy_from_slice(&header(OP_TEXT, len)[..n]);
    fit(&mut buf);
    Bytes::from(buf).slice(start..)
}

/// Gives back the room of a buffer allocated at a size hint when the hint
/// was well over what was written, so a queued message holds no more than
/// it counts.
pub fn fit(buf: &mut Vec<u8>) {
    if buf.capacity() > buf.len() + buf.len() / 4 + 4096 {
        buf.shrink_to_fit();
    }
}

/// A close frame with a status code and a reason (at most 123 bytes).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(OP_CLOSE, &payload)
}

/// An empty ping.
pub fn ping() -> Bytes {
    Bytes::from_static(&[0x80 | OP_PING, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_shortest_header() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let f = frame(OP_TEXT, &vec![b'x'; len]);
            assert_eq!(f.len(), header + len, "payload {len}");
            assert_eq!(f[0], 0x81);
            match header {
                2 => assert_eq!(f[1] as usize, len),
                4 => {
                    assert_eq!(f[1], 126);
                    assert_eq!(u16::from_be_bytes([f[2], f[3]]) as usize, len);
                }
                _ => {
                    assert_eq!(f[1], 127);
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&f[2..10]);
                    assert_eq!(u64::from_be_bytes(n) as usize, len);
                }
            }
        }
    }

    #[test]
    fn a_frame_written_in_place_is_the_same_frame() {
        for len in [0, 125, 126, 65_535, 65_536, 200_000] {
            let payload = "y".repeat(len);
            for hint in [0, len / 2, len, len * 3] {
                let f = text_with(hint, |out| out.extend_from_slice(payload.as_bytes()));
                assert_eq!(f, text(&payload), "payload {len}, hint {hint}");
            }
        }
    }

    #[test]
    fn close_carries_code_and_a_bounded_reason() {
        let f = close(4009, "slow consumer");
        assert_eq!(&f[..], b"\x88\x0f\x0f\xa9slow consumer");
        let long = "é".repeat(100);
        let f = close(1000, &long);
        assert!(f.len() <= 2 + 125);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }

    #[test]
    fn event_frame_is_a_text_frame_of_the_event_message() {
        let (wire, at) = crate::protocol::event_frame(r#"{"space":"s","version":1}"#);
        assert_eq!(at, 2);
        assert_eq!(wire[0], 0x81);
        assert_eq!(&wire[at..], br#"{"type":"event","space":"s","version":1}"#);
        assert_eq!(wire[1] as usize, wire.len() - at);
    }
}
