//! The hash filters `Md5`, `Sha1`, `Sha256`, `Sha384` and `Sha512`: lower-case hex of the
//! digest, with Octostache's options (a digest size in bytes and the encoding of the input).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;

use super::{FilterInput, FilterResult};

pub(super) fn md5(input: &FilterInput<'_>) -> FilterResult {
    hash::<md5::Md5>(input)
}

pub(super) fn sha1(input: &FilterInput<'_>) -> FilterResult {
    hash::<sha1::Sha1>(input)
}

pub(super) fn sha256(input: &FilterInput<'_>) -> FilterResult {
    hash::<sha2::Sha256>(input)
}

pub(super) fn sha384(input: &FilterInput<'_>) -> FilterResult {
    hash::<sha2::Sha384>(input)
}

pub(super) fn sha512(input: &FilterInput<'_>) -> FilterResult {
    hash::<sha2::Sha512>(input)
}

/// How the value becomes bytes before it is hashed.
#[derive(Clone, Copy)]
enum Encoding {
    Utf8,
    /// UTF-16 little-endian, .NET's `Encoding.Unicode`.
    Unicode,
    /// The value is Base64 text; its decoded bytes are hashed.
    Base64,
}

/// Octostache's options: none; a size; an encoding; a size then an encoding; or an encoding
/// then a size. A size must be a whole number above 0; anything else is refused.
fn options(arguments: &[String]) -> Result<(Option<usize>, Encoding), String> {
    let size = |text: &str| text.parse::<i32>().ok().filter(|size| *size > 0);
    let encoding = |text: &str| match text.to_lowercase().as_str() {
        "utf8" | "utf-8" => Some(Encoding::Utf8),
        "unicode" => Some(Encoding::Unicode),
        "base64" => Some(Encoding::Base64),
        _ => None,
    };
    let refused = || {
        "takes a digest size (a whole number above 0) and an encoding (`utf8`, `unicode` or \
         `base64`), in either order"
            .to_owned()
    };
    let as_size = |size: i32| usize::try_from(size).map_err(|_| refused());
    match arguments {
        [] => Ok((None, Encoding::Utf8)),
        [first] => match (size(first), encoding(first)) {
            (Some(bytes), _) => Ok((Some(as_size(bytes)?), Encoding::Utf8)),
            (None, Some(encoding)) => Ok((None, encoding)),
            (None, None) => Err(refused()),
        },
        [first, second] => match (size(first), encoding(second), encoding(first), size(second)) {
            (Some(bytes), Some(encoding), _, _) => Ok((Some(as_size(bytes)?), encoding)),
            (None, _, Some(encoding), Some(bytes)) => Ok((Some(as_size(bytes)?), encoding)),
            _ => Err(refused()),
        },
        _ => Err(refused()),
    }
}

fn hash<D: Digest>(input: &FilterInput<'_>) -> FilterResult {
    let (size, encoding) = options(input.arguments)?;
    let bytes = match encoding {
        Encoding::Utf8 => input.value.as_bytes().to_vec(),
        Encoding::Unicode => input
            .value
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect(),
        Encoding::Base64 => {
            // .NET's `Convert.FromBase64String` ignores whitespace anywhere in the text.
            let compact: String = input.value.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD
                .decode(compact)
                .map_err(|error| format!("cannot decode the value as Base64: {error}"))?
        }
    };
    let digest = D::digest(&bytes);
    let size = size.unwrap_or(digest.len()).min(digest.len());
    Ok(digest[..size].iter().map(|b| format!("{b:02x}")).collect())
}
