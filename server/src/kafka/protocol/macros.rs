//! `wire_struct!`: one field list per message struct, from which its Rust
//! struct, `Default` and [`Wire`](super::primitives::Wire) impl (decode,
//! encode, minimal size) are generated, so decoder and encoder cannot
//! disagree. Each field is `name: Type [first, last]` with the versions it
//! is present in (`99` = every later version) and an optional
//! `= default` (Kafka's JSON `default`) used when it is absent. A flexible
//! version reads and skips the struct's tagged-field section and writes an
//! empty one.

macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<'a> {
            $( $(#[$field_meta:meta])* $field:ident : $type:ty [$first:literal, $last:literal] $(= $default:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<'a> {
            $( $(#[$field_meta])* pub $field: $type, )*
        }
        wire_struct!(@impls [impl<'a> Default for $name<'a>] [impl<'a> $crate::kafka::protocol::primitives::Wire<'a> for $name<'a>]
            [impl<'a> $crate::kafka::protocol::sample::Sample<'a> for $name<'a>]
            $( $field : $type [$first, $last] $(= $default)? ),*);
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $type:ty [$first:literal, $last:literal] $(= $default:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $type, )*
        }
        wire_struct!(@impls [impl Default for $name] [impl<'a> $crate::kafka::protocol::primitives::Wire<'a> for $name]
            [impl<'a> $crate::kafka::protocol::sample::Sample<'a> for $name]
            $( $field : $type [$first, $last] $(= $default)? ),*);
    };
    (@default) => { Default::default() };
    (@default $default:expr) => { $default };
    (@impls [$($default_impl:tt)*] [$($wire_impl:tt)*] [$($sample_impl:tt)*]
        $( $field:ident : $type:ty [$first:literal, $last:literal] $(= $default:expr)? ),*
    ) => {
        $($default_impl)* {
            fn default() -> Self {
                Self { $( $field: wire_struct!(@default $($default)?), )* }
            }
        }
        $($wire_impl)* {
            fn min_bytes(version: $crate::kafka::protocol::primitives::Version) -> usize {
                let mut bytes = usize::from(version.flexible);
                $(
                    if ($first..=$last).contains(&version.number) {
                        bytes += <$type as $crate::kafka::protocol::primitives::Wire>::min_bytes(version);
                    }
                )*
                bytes
            }
            fn read(
                reader: &mut $crate::kafka::protocol::primitives::Reader<'a>,
                version: $crate::kafka::protocol::primitives::Version,
            ) -> Result<Self, $crate::kafka::protocol::error::DecodeError> {
                let mut value = Self::default();
                $(
                    if ($first..=$last).contains(&version.number) {
                        value.$field = <$type as $crate::kafka::protocol::primitives::Wire>::read(reader, version)
                            .map_err(|error| error.within(stringify!($field)))?;
                    }
                )*
                if version.flexible {
                    reader.skip_tagged_fields().map_err(|error| error.within("tagged fields"))?;
                }
                Ok(value)
            }
            fn write(
                &self,
                out: &mut Vec<u8>,
                version: $crate::kafka::protocol::primitives::Version,
            ) -> Result<(), $crate::kafka::protocol::error::EncodeError> {
                $(
                    if ($first..=$last).contains(&version.number) {
                        <$type as $crate::kafka::protocol::primitives::Wire>::write(&self.$field, out, version)
                            .map_err(|error| error.within(stringify!($field)))?;
                    }
                )*
                if version.flexible {
                    $crate::kafka::protocol::primitives::write_empty_tagged_fields(out);
                }
                Ok(())
            }
        }
        $($sample_impl)* {
            fn sample(
                sampler: &mut $crate::kafka::protocol::sample::Sampler,
                version: $crate::kafka::protocol::primitives::Version,
            ) -> Self {
                let mut value = Self::default();
                $(
                    if ($first..=$last).contains(&version.number) {
                        value.$field = <$type as $crate::kafka::protocol::sample::Sample>::sample(sampler, version);
                    }
                )*
                value
            }
        }
    };
}

pub(crate) use wire_struct;
