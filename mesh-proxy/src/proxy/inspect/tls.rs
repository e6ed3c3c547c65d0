//! Envoy's `tls_inspector`, the parsing part: a TLS ClientHello's SNI and ALPN from
//! the first bytes of a connection, possibly spread over several records.

use super::Inspection;

/// Envoy's default `max_client_hello_size`: a larger hello closes the connection.
pub(crate) const MAX_CLIENT_HELLO: usize = 64 * 1024;

const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_NAME: u16 = 0;
const ALPN: u16 = 16;
const HOST_NAME: u8 = 0;

/// What a ClientHello tells the filter chain match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) server_name: Option<String>,
    pub(crate) alpn: Vec<String>,
}

/// Parses the ClientHello at the start of `data`. Anything that is not one (wrong
/// record type, malformed) is `NotThis`: Envoy then leaves the transport protocol at
/// `raw_buffer` and carries on.
pub(crate) fn client_hello(data: &[u8]) -> Inspection<ClientHello> {
    // The first bytes decide as soon as they arrive, as BoringSSL's parse in Envoy's
    // inspector does: a short plaintext message must not wait for a record header.
    match data {
        [first, ..] if *first != HANDSHAKE => return Inspection::NotThis,
        [_, major, ..] if *major != 3 => return Inspection::NotThis,
        _ => {}
    }
    // Reassemble the handshake message from consecutive handshake records.
    let mut message = Vec::new();
    let mut rest = data;
    loop {
        if message_len(&message).is_some_and(|needed| message.len() >= needed) {
            break;
        }
        let Some(header) = rest.get(..5) else {
            return need_more(data);
        };
        if header[0] != HANDSHAKE || header[1] != 3 {
            return Inspection::NotThis;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > (1 << 14) {
            return Inspection::NotThis;
        }
        let Some(fragment) = rest.get(5..5 + len) else {
            return need_more(data);
        };
        message.extend_from_slice(fragment);
        rest = &rest[5 + len..];
        if message.first().is_some_and(|t| *t != CLIENT_HELLO) {
            return Inspection::NotThis;
        }
    }
    let Some(body) = message_len(&message).and_then(|n| message.get(4..n)) else {
        return Inspection::NotThis;
    };
    match parse_body(body) {
        Some(hello) => Inspection::Found(hello),
        None => Inspection::NotThis,
    }
}

fn need_more<T>(data: &[u8]) -> Inspection<T> {
    if data.len() >= MAX_CLIENT_HELLO {
        Inspection::TooLarge
    } else {
        Inspection::NeedMore
    }
}

/// Length of the whole handshake message (header included), once its header is in.
fn message_len(message: &[u8]) -> Option<usize> {
    let h = message.get(..4)?;
    Some(4 + (usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3])))
}

/// A cursor over the ClientHello body; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a 1- or 2-byte length prefix.
    fn vec8(&mut self) -> Option<Reader<'a>> {
        let n = self.u8()?;
        Some(Reader(self.take(usize::from(n))?))
    }
    fn vec16(&mut self) -> Option<Reader<'a>> {
        let n = self.u16()?;
        Some(Reader(self.take(usize::from(n))?))
    }
}

fn parse_body(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(body);
    let _legacy_version = r.u16()?;
    let _random = r.take(32)?;
    let _session_id = r.vec8()?;
    let _cipher_suites = r.vec16()?;
    let _compression = r.vec8()?;
    let mut hello = ClientHello::default();
    if r.0.is_empty() {
        // No extensions: a TLS 1.0-era hello, still TLS.
        return Some(hello);
    }
    let mut extensions = r.vec16()?;
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let mut data = extensions.vec16()?;
        match kind {
            SERVER_NAME => {
                let mut names = data.vec16()?;
                while !names.0.is_empty() {
                    let name_type = names.u8()?;
                    let name = names.vec16()?;
                    if name_type == HOST_NAME && hello.server_name.is_none() {
                        hello.server_name = Some(String::from_utf8(name.0.to_vec()).ok()?);
                    }
                }
            }
            ALPN => {
                let mut protocols = data.vec16()?;
                while !protocols.0.is_empty() {
                    let p = protocols.vec8()?;
                    hello.alpn.push(String::from_utf8_lossy(p.0).into_owned());
                }
            }
            _ => {}
        }
    }
    Some(hello)
}
