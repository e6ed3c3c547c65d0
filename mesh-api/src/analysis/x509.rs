//! Just enough X.509 to check a gateway credential as Istio does: base64 Secret data,
//! the first PEM block, and the validity period of each DER certificate in it.

/// Decodes standard base64 (padding optional, whitespace ignored).
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The bytes of the first PEM block (`-----BEGIN …-----`), whatever its type.
pub(crate) fn first_pem_block(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let after_begin = &text[start..];
    let body_start = after_begin.find('\n')? + 1;
    let body = &after_begin[body_start..];
    let end = body.find("-----END ")?;
    // Headers (`Proc-Type: …`) precede a blank line; plain blocks have none.
    let body = &body[..end];
    let body = match body.find("\n\n") {
        Some(i) if body[..i].contains(':') => &body[i + 2..],
        _ => body,
    };
    base64_decode(body)
}

/// `(not_before, not_after)` in Unix seconds for each certificate of concatenated DER;
/// `None` when any is not a certificate.
pub(crate) fn validity_periods(der: &[u8]) -> Option<Vec<(i64, i64)>> {
    let mut rest = der;
    let mut periods = Vec::new();
    while !rest.is_empty() {
        let (certificate, after) = element(rest, 0x30)?;
        periods.push(validity(certificate)?);
        rest = after;
    }
    (!periods.is_empty()).then_some(periods)
}

/// One DER element of tag `tag`: its contents and what follows it.
fn element(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = data.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
    };
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// Any element: its tag, contents and what follows.
fn any_element(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let (contents, rest) = element(data, tag)?;
    Some((tag, contents, rest))
}

fn validity(certificate: &[u8]) -> Option<(i64, i64)> {
    let (tbs, _) = element(certificate, 0x30)?;
    let mut rest = tbs;
    // [0] version, optional.
    if rest.first() == Some(&0xa0) {
        rest = any_element(rest)?.2;
    }
    // serialNumber, signature algorithm, issuer.
    for _ in 0..3 {
        rest = any_element(rest)?.2;
    }
    let (validity, _) = element(rest, 0x30)?;
    let (tag, not_before, rest) = any_element(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = any_element(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) to Unix seconds.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_dates() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGVs\nbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("a$"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
        assert_eq!(time(0x17, b"260101000000Z"), Some(1_767_225_600));
        assert_eq!(time(0x18, b"20260101000000Z"), Some(1_767_225_600));
        assert_eq!(time(0x17, b"2601010000Z"), None);
    }

    /// A self-signed certificate valid from 2025-01-01 to 2030-01-01, base64 as in a Secret.
    pub(crate) const VALID_CERT: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJKakNCektBREFnRUNBZ0lENkRBS0JnZ3Foa2pPUFFRREFqQWNNUm93R0FZRFZRUUREQkYyWVd4cFpDNWwKZUdGdGNHeGxMbU52YlRBZUZ3MHlOVEF4TURFd01EQXdNREJhRncwek1EQXhNREV3TURBd01EQmFNQnd4R2pBWQpCZ05WQkFNTUVYWmhiR2xrTG1WNFlXMXdiR1V1WTI5dE1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEClFnQUVQaS9NS2syUnZSakdoSlAySitPaVIrZDRLRk1FUFdiWDJZaWN6SEo5Yy9OYWhFT09NU01ic25zanEzSnoKcjdHNXM0akpRWDQ5TFZZSSt2QUJsN3dzMGpBS0JnZ3Foa2pPUFFRREFnTkpBREJHQWlFQXlQKzlzL25KV1JOVQpWV0NBeGR4Z0wrbXlFWWVhTjR1b0VOeHFVV1dwQnRBQ0lRQ282N1luVXEyQVBub0VmY0ZVdWNsV0MrL09aVzV0CjB5VkFZeU0ra2xDaFpBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";

    #[test]
    fn reads_the_validity_of_a_certificate() {
        let pem = base64_decode(VALID_CERT).unwrap();
        let der = first_pem_block(&pem).unwrap();
        assert_eq!(der.first(), Some(&0x30));
        assert_eq!(
            validity_periods(&der),
            Some(vec![(1_735_689_600, 1_893_456_000)])
        );
        assert_eq!(validity_periods(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(first_pem_block(b"no pem here"), None);
    }
}
