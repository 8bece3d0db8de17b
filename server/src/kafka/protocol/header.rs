//! Request header v0/v1/v2 and response header v0/v1 (Kafka's
//! `RequestHeader.json` / `ResponseHeader.json`). The header version follows
//! from the API and its version ([`ApiKey::request_header_version`]); the
//! client id is a plain nullable string even in v2 (it must stay readable by
//! brokers that do not know the flexible versions: apache/kafka PR #7479).

use super::error::{DecodeError, EncodeError};
use super::primitives::{write_empty_tagged_fields, Reader, Version, Wire};
use super::versions::ApiKey;

/// The header of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// The raw key (an unknown one is reported with the header).
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    /// v1+ (`None` in v0 or when null).
    pub client_id: Option<&'a str>,
}

const NON_FLEXIBLE: Version = Version::new(0, false);

impl<'a> RequestHeader<'a> {
    /// Reads the fixed prefix every header version shares:
    /// api_key, api_version, correlation_id.
    pub fn read_prefix(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let api_key = reader.i16().map_err(|e| e.within("api_key"))?;
        let api_version = reader.i16().map_err(|e| e.within("api_version"))?;
        let correlation_id = reader.i32().map_err(|e| e.within("correlation_id"))?;
        Ok(Self {
            api_key,
            api_version,
            correlation_id,
            client_id: None,
        })
    }

    /// Reads the rest of a header of `header_version` after the prefix.
    pub fn read_rest(&mut self, reader: &mut Reader<'a>, header_version: i16) -> Result<(), DecodeError> {
        if header_version >= 1 {
            self.client_id = <Option<&str> as Wire>::read(reader, NON_FLEXIBLE).map_err(|e| e.within("client_id"))?;
        }
        if header_version >= 2 {
            reader
                .skip_tagged_fields()
                .map_err(|e| e.within("header tagged fields"))?;
        }
        Ok(())
    }

    /// Appends the header at `header_version` (clients' side: tests, fuzz seeds).
    pub fn write(&self, out: &mut Vec<u8>, header_version: i16) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.api_key.to_be_bytes());
        out.extend_from_slice(&self.api_version.to_be_bytes());
        out.extend_from_slice(&self.correlation_id.to_be_bytes());
        if header_version >= 1 {
            self.client_id
                .write(out, NON_FLEXIBLE)
                .map_err(|e| e.within("client_id"))?;
        }
        if header_version >= 2 {
            write_empty_tagged_fields(out);
        }
        Ok(())
    }

    /// The API, if known.
    #[must_use]
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::from_i16(self.api_key)
    }
}

/// Appends a response header: the correlation id, and in v1 an empty
/// tagged-field section.
pub fn write_response_header(out: &mut Vec<u8>, correlation_id: i32, header_version: i16) {
    out.extend_from_slice(&correlation_id.to_be_bytes());
    if header_version >= 1 {
        write_empty_tagged_fields(out);
    }
}

/// Reads a response header (tests and clients): the correlation id.
pub fn read_response_header(reader: &mut Reader<'_>, header_version: i16) -> Result<i32, DecodeError> {
    let correlation_id = reader.i32().map_err(|e| e.within("correlation_id"))?;
    if header_version >= 1 {
        reader
            .skip_tagged_fields()
            .map_err(|e| e.within("header tagged fields"))?;
    }
    Ok(correlation_id)
}
