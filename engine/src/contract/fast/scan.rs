//! A single-pass JSON scanner for the fast check: RFC 8259 text read with
//! exactly the acceptance of `serde_json::from_slice::<Value>` (the
//! reference path's parser) for what it decides, without building a value.
//!
//! - Syntax: whitespace is space, tab, CR and LF; `true`, `false`, `null`;
//!   no trailing commas, no leading zeros, a digit on both sides of `.` and
//!   after `e`; nothing but whitespace after the top value.
//! - Strings: no control byte below 0x20, the escapes `\" \\ \/ \b \f \n \r
//!   \t \uXXXX`, surrogates paired (a lone leading or trailing one is an
//!   error, as in serde_json's `parse_str`), the raw bytes valid UTF-8. A
//!   string no rule reads is checked and skipped (8 bytes at a time while
//!   there is nothing to look at), never decoded.
//! - Numbers: the grammar, and serde_json's range rule (a number whose `f64`
//!   is infinite is an error): a number surely below 1e300 is accepted as
//!   it is, a larger one is parsed (correctly rounded, as serde_json's
//!   `float_roundtrip` parse is) and refused if infinite. A number a rule
//!   reads is converted as serde_json does (`u64`, `i64`, `-0` and
//!   integers below −2^63 as floats) when that is exact: integers within
//!   `u64`, floats whose digits fit 2^53 and whose decimal exponent is
//!   within ±22 (one correctly rounded operation, so equal to serde_json's
//!   correctly rounded `float_roundtrip` parse); other numbers defer.
//! - Depth: containers nest at most [`DEPTH_MAX`] deep (serde_json allows
//!   127); deeper defers. Skipping is iterative with a bit stack: no
//!   recursion, no allocation. Decoding allocates only for a string with
//!   escapes that a rule reads (its own length).
//!
//! Duplicate keys are legal JSON (serde_json keeps the last); the fast check
//! defers on a duplicate of a key it judges.

/// Deepest nesting the scanner follows (the top value is depth 1).
pub(crate) const DEPTH_MAX: u32 = 100;

/// A number is accepted without computing it when below 10^this.
const MAGNITUDE_MAX: i64 = 300;

/// Why a scan stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Not JSON that serde_json accepts.
    Invalid,
    /// Outside what the scanner decides (deep nesting, a number a rule reads
    /// that it cannot convert exactly): the reference decides.
    Defer,
}

/// A string's raw content between its quotes, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawStr<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> RawStr<'a> {
    /// The string's text: borrowed if it has no escape, else decoded into `scratch`.
    pub(crate) fn text<'s>(&self, scratch: &'s mut Vec<u8>) -> Result<&'s str, Stop>
    where
        'a: 's,
    {
        if !self.escaped {
            return std::str::from_utf8(self.raw).map_err(|_| Stop::Invalid);
        }
        scratch.clear();
        decode(self.raw, scratch)?;
        std::str::from_utf8(scratch).map_err(|_| Stop::Invalid)
    }
}

/// A number's parts as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumTok<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// The exponent, saturated at ±1,000,000.
    exp: Option<i64>,
}

/// A value as the fast check sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Token<'a> {
    Null,
    Bool(bool),
    Num(NumTok<'a>),
    Str(RawStr<'a>),
    Object,
    Array,
}

/// Has any byte of `w` the value 0? (With a true zero, bits above it may be
/// false positives; without one there are none.)
const fn has_zero(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    w.wrapping_sub(LO) & !w & HI != 0
}

/// Does the 8-byte word hold a byte the string scan must look at: `"`,
/// `\`, a control byte or a non-ASCII byte?
const fn needs_look(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let control = w.wrapping_sub(LO * 0x20) & !w & HI != 0;
    // 0x22 is `"`, 0x5C is `\`.
    w & HI != 0 || control || has_zero(w ^ (LO * 0x22)) || has_zero(w ^ (LO * 0x5C))
}

fn hex(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Decodes `raw` (checked by [`Scanner::string`]) into `out`.
fn decode(raw: &[u8], out: &mut Vec<u8>) -> Result<(), Stop> {
    let mut s = Scanner::new(raw);
    while let Some(b) = s.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let c = match s.next().ok_or(Stop::Invalid)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = s.hex4()?;
                let code = if (0xD800..=0xDBFF).contains(&n) {
                    if s.next() != Some(b'\\') || s.next() != Some(b'u') {
                        return Err(Stop::Invalid);
                    }
                    let n2 = s.hex4()?;
                    ((u32::from(n) - 0xD800) << 10 | (u32::from(n2).wrapping_sub(0xDC00) & 0x3FF)) + 0x1_0000
                } else {
                    u32::from(n)
                };
                char::from_u32(code).ok_or(Stop::Invalid)?
            }
            _ => return Err(Stop::Invalid),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    Ok(())
}

/// Digits to a `u64`, `None` on overflow.
fn digits_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d.wrapping_sub(b'0')))
    })
}

impl NumTok<'_> {
    /// serde_json's range rule (`NumberOutOfRange` when the correctly
    /// rounded `f64` is infinite; with `float_roundtrip` its parse is
    /// correctly rounded, as `str::parse` is): a number surely below 1e300
    /// without parsing, a larger one by parsing `text`, its whole token.
    fn in_range(&self, text: &[u8]) -> Result<(), Stop> {
        let int_digits = i64::try_from(self.int.len()).unwrap_or(i64::MAX);
        let magnitude = int_digits.saturating_add(self.exp.unwrap_or(0));
        if magnitude <= MAGNITUDE_MAX {
            return Ok(());
        }
        let text = std::str::from_utf8(text).map_err(|_| Stop::Invalid)?;
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(()),
            Ok(_) => Err(Stop::Invalid),
            Err(_) => Err(Stop::Defer),
        }
    }

    /// The number as serde_json holds it, if this scanner can tell exactly.
    pub(crate) fn value(&self) -> Result<super::Num, Stop> {
        use super::Num;
        if self.frac.is_empty() && self.exp.is_none() {
            let magnitude = digits_u64(self.int).ok_or(Stop::Defer)?;
            if !self.negative {
                return Ok(Num::U(magnitude));
            }
            // serde_json: `-0` and anything below i64::MIN are floats.
            return Ok(match magnitude {
                0 => Num::F(-0.0),
                m => match 0i64.checked_sub_unsigned(m) {
                    Some(i) => Num::I(i),
                    None => Num::F(-(m as f64)),
                },
            });
        }
        const EXACT: u64 = 1 << 53;
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            1e19, 1e20, 1e21, 1e22,
        ];
        let mut significand = 0u64;
        for d in self.int.iter().chain(self.frac) {
            significand = significand
                .checked_mul(10)
                .and_then(|s| s.checked_add(u64::from(d.wrapping_sub(b'0'))))
                .filter(|s| *s <= EXACT)
                .ok_or(Stop::Defer)?;
        }
        let frac_digits = i64::try_from(self.frac.len()).map_err(|_| Stop::Defer)?;
        let exponent = self.exp.unwrap_or(0).saturating_sub(frac_digits);
        let pow = POW10
            .get(usize::try_from(exponent.unsigned_abs()).map_err(|_| Stop::Defer)?)
            .ok_or(Stop::Defer)?;
        let f = if exponent >= 0 {
            significand as f64 * pow
        } else {
            significand as f64 / pow
        };
        Ok(Num::F(if self.negative { -f } else { f }))
    }
}

/// A cursor over JSON text.
pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Scanner<'a> {
        Scanner { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Skips whitespace.
    pub(crate) fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Whitespace, then whether the text ends there.
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos >= self.bytes.len()
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let ate = self.peek() == Some(b);
        if ate {
            self.pos += 1;
        }
        ate
    }

    /// Consumes `b`, which must be next.
    pub(crate) fn expect(&mut self, b: u8) -> Result<(), Stop> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(Stop::Invalid)
        }
    }

    fn hex4(&mut self) -> Result<u16, Stop> {
        let mut n = 0u16;
        for _ in 0..4 {
            n = n << 4 | self.next().and_then(hex).ok_or(Stop::Invalid)?;
        }
        Ok(n)
    }

    /// One escape after its backslash, checked as serde_json's `parse_str` does.
    fn escape(&mut self) -> Result<(), Stop> {
        match self.next().ok_or(Stop::Invalid)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => {
                let n = self.hex4()?;
                if (0xDC00..=0xDFFF).contains(&n) {
                    return Err(Stop::Invalid);
                }
                if (0xD800..=0xDBFF).contains(&n) {
                    if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                        return Err(Stop::Invalid);
                    }
                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                        return Err(Stop::Invalid);
                    }
                }
                Ok(())
            }
            _ => Err(Stop::Invalid),
        }
    }

    /// A string after its opening quote, up to and past its closing one.
    pub(crate) fn string(&mut self) -> Result<RawStr<'a>, Stop> {
        let start = self.pos;
        let (mut escaped, mut ascii) = (false, true);
        loop {
            while let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
                let Ok(word) = <[u8; 8]>::try_from(word) else { break };
                if needs_look(u64::from_le_bytes(word)) {
                    break;
                }
                self.pos += 8;
            }
            match self.next().ok_or(Stop::Invalid)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..=0x1F => return Err(Stop::Invalid),
                0x80.. => ascii = false,
                _ => {}
            }
        }
        let raw = self.bytes.get(start..self.pos - 1).ok_or(Stop::Invalid)?;
        if !ascii {
            std::str::from_utf8(raw).map_err(|_| Stop::Invalid)?;
        }
        Ok(RawStr { raw, escaped })
    }

    fn digits(&mut self) -> &'a [u8] {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    /// A number from its first byte (`-` or a digit), checked and proved in range.
    fn number(&mut self) -> Result<NumTok<'a>, Stop> {
        let start = self.pos;
        let negative = self.eat(b'-');
        let int = self.digits();
        match int {
            [] => return Err(Stop::Invalid),
            [b'0', _, ..] => return Err(Stop::Invalid),
            _ => {}
        }
        let frac = if self.eat(b'.') {
            match self.digits() {
                [] => return Err(Stop::Invalid),
                frac => frac,
            }
        } else {
            &[]
        };
        let exp = if self.eat(b'e') || self.eat(b'E') {
            let negative_exp = if self.eat(b'-') {
                true
            } else {
                self.eat(b'+');
                false
            };
            let digits = self.digits();
            if digits.is_empty() {
                return Err(Stop::Invalid);
            }
            let e = digits
                .iter()
                .fold(0i64, |e, d| (e * 10 + i64::from(d.wrapping_sub(b'0'))).min(1_000_000));
            Some(if negative_exp { -e } else { e })
        } else {
            None
        };
        let tok = NumTok {
            negative,
            int,
            frac,
            exp,
        };
        tok.in_range(self.bytes.get(start..self.pos).unwrap_or_default())?;
        Ok(tok)
    }

    fn literal(&mut self, rest: &[u8]) -> Result<(), Stop> {
        for b in rest {
            self.expect(*b)?;
        }
        Ok(())
    }

    /// One value (whitespace before it skipped) at nesting `depth` (its
    /// container's depth; the top value's is 0). A container is checked and
    /// skipped whole.
    pub(crate) fn value(&mut self, depth: u32) -> Result<Token<'a>, Stop> {
        self.ws();
        match self.peek().ok_or(Stop::Invalid)? {
            b'"' => {
                self.pos += 1;
                self.string().map(Token::Str)
            }
            b'-' | b'0'..=b'9' => self.number().map(Token::Num),
            b't' => self.literal(b"true").map(|()| Token::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Token::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Token::Null),
            open @ (b'{' | b'[') => {
                self.pos += 1;
                self.skip_container(open == b'{', depth + 1)?;
                Ok(if open == b'{' { Token::Object } else { Token::Array })
            }
            _ => Err(Stop::Invalid),
        }
    }

    /// A key (whitespace before it skipped) and its colon.
    pub(crate) fn key(&mut self) -> Result<RawStr<'a>, Stop> {
        self.ws();
        self.expect(b'"')?;
        let key = self.string()?;
        self.ws();
        self.expect(b':')?;
        Ok(key)
    }

    /// After a member or element: `Ok(true)` past a comma, `Ok(false)` past `close`.
    pub(crate) fn more(&mut self, close: u8) -> Result<bool, Stop> {
        self.ws();
        match self.next() {
            Some(b',') => Ok(true),
            Some(b) if b == close => Ok(false),
            _ => Err(Stop::Invalid),
        }
    }

    /// The rest of a container just opened at `depth`, nested ones included,
    /// without recursion: bit `i` of `objects` says whether the container at
    /// `depth + i` is an object.
    fn skip_container(&mut self, object: bool, depth: u32) -> Result<(), Stop> {
        if depth > DEPTH_MAX {
            return Err(Stop::Defer);
        }
        let mut objects: u128 = u128::from(object);
        let mut level: u32 = 0;
        // Just inside a container: it may close at once.
        let mut fresh = true;
        loop {
            let object = objects >> level & 1 == 1;
            let close = if object { b'}' } else { b']' };
            let go_on = if fresh {
                self.ws();
                !self.eat(close)
            } else {
                self.more(close)?
            };
            fresh = false;
            if !go_on {
                if level == 0 {
                    return Ok(());
                }
                level -= 1;
                continue;
            }
            if object {
                self.key()?;
            }
            self.ws();
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    self.pos += 1;
                    level += 1;
                    if depth + level > DEPTH_MAX {
                        return Err(Stop::Defer);
                    }
                    let bit = 1u128 << level;
                    objects = if open == b'{' { objects | bit } else { objects & !bit };
                    fresh = true;
                }
                _ => {
                    self.value(depth + level)?;
                }
            }
        }
    }
}

/// Whether serde_json accepts `body` as one JSON value: `Some(accepted)`,
/// or `None` where the scanner defers (the differential tests and the
/// `contract_check` fuzz target compare it with `serde_json::from_slice`).
pub(crate) fn accepts(body: &[u8]) -> Option<bool> {
    let mut s = Scanner::new(body);
    match s.value(0) {
        Ok(_) => Some(s.at_end()),
        Err(Stop::Invalid) => Some(false),
        Err(Stop::Defer) => None,
    }
}
