//! The typed values a request is parsed into. Every constructor checks its input, so code past
//! the edge cannot hold an invalid value. This module is the leaf the rest of the crate builds on:
//! it imports nothing of the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A request value that is malformed: which field, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The canonical role that administers every user in every API.
pub const ADMIN_ROLE: &str = "admin";

/// Largest serialized `data` object we accept: well inside DynamoDB's 400 KB item limit,
/// leaving room for every other attribute.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Longest free-text field (names, biography, preference values...).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Most preferences or properties one user may hold, so upserts cannot grow an item without bound.
pub const MAX_ENTRIES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(i64);

impl UserId {
    pub fn new(id: i64) -> Result<Self, Invalid> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(Invalid::new(
                "id",
                format!("must be a positive integer, got {id}"),
            ))
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let id: i64 = raw
            .parse()
            .map_err(|_| Invalid::new(field, format!("must be an integer, got {raw:?}")))?;
        Self::new(id).map_err(|e| Invalid::new(field, e.reason))
    }

    /// Only the canonical decimal form (`"2"`, never `"+2"` or `"02"`): what names a user in a
    /// token, where two spellings of one id would be two identities to an issuer's allow-list.
    pub fn parse_canonical(field: &str, raw: &str) -> Result<Self, Invalid> {
        let id = Self::parse(field, raw)?;
        if id.0.to_string() == raw {
            Ok(id)
        } else {
            Err(Invalid::new(
                field,
                format!("must be a user id in decimal without sign or leading zeros, got {raw:?}"),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Unicode's explicit bidirectional embeddings, overrides and isolates (U+202A..U+202E,
/// U+2066..U+2069): inside a name they make it display as another one (`"admin\u{202E}txt"`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address, stored as given and unique by its mailbox: [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = |why: &str| Invalid::new("email", format!("{why}: {raw}"));
        let trimmed = raw.trim();
        let valid = trimmed.len() <= 254
            && trimmed == raw
            && email_address::EmailAddress::parse_with_options(
                raw,
                email_address::Options::default()
                    .without_display_text()
                    .without_domain_literal(),
            )
            .is_ok()
            // A bare host (`a@localhost`) is valid in RFC 5321 but never a deliverable address here.
            && raw.rsplit('@').next().is_some_and(|d| d.contains('.') && !d.ends_with('.'));
        if !valid {
            return Err(invalid("not a valid email address"));
        }
        // `"ada"@example.com` is `ada@example.com` to most mail servers: one mailbox, two spellings.
        if raw.starts_with('"') {
            return Err(invalid("a quoted local part is not accepted"));
        }
        if raw.chars().any(is_bidi_control) {
            return Err(invalid("bidirectional control characters are not accepted"));
        }
        let (_, domain) = raw.rsplit_once('@').expect("a valid address has an @");
        if idna::domain_to_ascii(domain).is_err() {
            return Err(invalid(
                "the domain is not a valid internationalised domain name",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on: one key per mailbox however it is spelled. The local
    /// part NFKC-normalised and lower-cased (full-width `ＡＤＡ` is `ada`), the domain in its IDNA
    /// ASCII form (`exаmple.com` with a Cyrillic `а` and its punycode `xn--exmple-4nf.com` are one
    /// domain). ASCII addresses keep the key they always had: the address in lower case.
    pub fn key(&self) -> String {
        email_key(&self.0)
    }
}

/// [`Email::key`] of an address as stored (every stored address was parsed on its way in).
pub fn email_key(address: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address.to_lowercase();
    };
    let local: String = local.nfkc().collect::<String>().to_lowercase();
    let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase());
    format!("{local}@{domain}")
}

/// A username (MMC userName, DeviceHive login, Unleash username, AAA UserName): unique,
/// compared case-insensitively, stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if !(1..=128).contains(&len) {
            return Err(Invalid::new("username", "must be 1 to 128 characters long"));
        }
        if raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c))
        {
            return Err(Invalid::new(
                "username",
                format!(
                    "must not contain spaces, control or bidirectional control characters: {raw:?}"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new plaintext password. Never printed: `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Longest password accepted: argon2 hashes any length, but an unbounded input is a cheap DoS.
    pub const MAX_BYTES: usize = 1024;

    /// Each API keeps its own minimum (DeviceHive 6, NEWM 8 with character classes, ...); the
    /// upper bound is ours.
    pub fn parse(field: &str, raw: &str, min_chars: usize) -> Result<Self, Invalid> {
        if raw.chars().count() < min_chars {
            return Err(Invalid::new(
                field,
                format!("must be at least {min_chars} characters long"),
            ));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(Invalid::new(
                field,
                format!("must be at most {} bytes long", Self::MAX_BYTES),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format argon2id hash, as stored. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts a stored PHC string; anything else is treated as "no usable password".
    pub fn from_phc(phc: String) -> Option<Self> {
        argon2::PasswordHash::new(&phc).ok()?;
        Some(Self(phc))
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// An absolute URL with a host, of any scheme (`https://`, and `s3://`, `ar://`, `ftp://` as NEWM
/// accepts them). Opaque URIs (`javascript:`, `data:`) and relative references are refused, and so
/// is whitespace anywhere (NEWM's `java.net.URI` refuses it; the `url` crate would encode it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AbsoluteUrl(String);

impl AbsoluteUrl {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let ok = raw.len() <= 2048
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && url::Url::parse(raw).is_ok_and(|u| {
                !u.cannot_be_a_base() && u.host_str().is_some_and(|h| !h.is_empty())
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                field,
                format!("not a valid absolute URL: {raw}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for AbsoluteUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Bounded free text (names, biography, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > MAX_TEXT_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_TEXT_CHARS} characters long"),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        if raw.chars().any(is_bidi_control) {
            return Err(Invalid::new(
                field,
                "must not contain bidirectional override or isolate characters (U+202A-U+202E, U+2066-U+2069)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `data`: an arbitrary JSON object, bounded in size.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl JsonObject {
    pub fn parse(field: &str, value: serde_json::Value) -> Result<Self, Invalid> {
        let serde_json::Value::Object(map) = value else {
            return Err(Invalid::new(field, "must be a JSON object"));
        };
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_DATA_BYTES {
            return Err(Invalid::new(
                field,
                format!("is {size} bytes, at most {MAX_DATA_BYTES} are allowed"),
            ));
        }
        Ok(Self(map))
    }

    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    pub fn to_json_string(&self) -> String {
        serde_json::Value::Object(self.0.clone()).to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Locked,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Locked => "locked",
            Status::Disabled => "disabled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "active" => Ok(Status::Active),
            "locked" => Ok(Status::Locked),
            "disabled" => Ok(Status::Disabled),
            other => Err(Invalid::new(
                "status",
                format!("must be \"active\", \"locked\" or \"disabled\", got {other:?}"),
            )),
        }
    }
}

/// A role name: what `roles` holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub fn admin() -> Self {
        Self(ADMIN_ROLE.to_owned())
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "roles",
                format!("not a valid role name (1-64 of A-Z a-z 0-9 - _ . :): {raw:?}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_checked_and_keyed_case_insensitively() {
        let e = Email::parse("John.Doe@Example.com").unwrap();
        assert_eq!(e.as_str(), "John.Doe@Example.com");
        assert_eq!(e.key(), "john.doe@example.com");
        for bad in [
            "john.doe!gmail.com",
            "",
            "a@b",
            " a@b.com",
            "a@b.com ",
            "<a@b.com>",
            "a@@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn urls_must_be_absolute_with_a_host() {
        // NEWM's own accepted and refused examples (newm-shared IsValidUrlTests), where they are
        // URLs with a host.
        for good in [
            "https://x.example/a.png",
            "ftp://foo.bar/baz",
            "s3://test",
            "ar://1234",
            "http://userid:password@example.com:8080",
            "http://142.42.1.1/",
        ] {
            assert!(
                AbsoluteUrl::parse("pictureUrl", good).is_ok(),
                "{good} refused"
            );
        }
        for bad in [
            "/relative",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://",
            "nope",
            "http://#",
            "http://##/",
            "http://foo.bar?q=Spaces should be encoded",
            "//a",
            "foo . com",
            "http:// shouldfail.com",
            ":// should fail",
        ] {
            assert!(
                AbsoluteUrl::parse("pictureUrl", bad).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::parse("password", "hunter2hunter2", 8).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(Password::parse("password", "short", 8).is_err());
        assert!(Password::parse("password", &"x".repeat(2000), 8).is_err());
    }

    #[test]
    fn data_must_be_a_bounded_object() {
        assert!(JsonObject::parse("data", serde_json::json!([1])).is_err());
        assert!(JsonObject::parse("data", serde_json::json!({"a": 1})).is_ok());
        let big = "x".repeat(MAX_DATA_BYTES + 1);
        assert!(JsonObject::parse("data", serde_json::json!({ "a": big })).is_err());
    }

    #[test]
    fn one_mailbox_is_one_key_however_it_is_spelled() {
        let key = |e: &str| Email::parse(e).unwrap().key();
        // Full-width letters are the ASCII ones after NFKC.
        assert_eq!(
            key("\u{FF21}\u{FF24}\u{FF21}@example.com"),
            "ada@example.com"
        );
        // A Cyrillic `а` in the domain and its punycode form are one domain.
        assert_eq!(key("ada@ex\u{430}mple.com"), key("ada@xn--exmple-4nf.com"));
        assert_ne!(key("ada@ex\u{430}mple.com"), key("ada@example.com"));
        assert_eq!(key("Ada@EXAMPLE.com"), "ada@example.com");
        for bad in [
            "\"ada\"@example.com",
            "\"a b\"@example.com",
            "ad\u{202E}a@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn canonical_ids_and_bidi_controls() {
        assert!(UserId::parse_canonical("sub", "2").is_ok());
        for bad in ["+2", "02", " 2", "2 ", "0", "-2", "2.0"] {
            assert!(
                UserId::parse_canonical("sub", bad).is_err(),
                "{bad} accepted"
            );
        }
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2069}',
        ] {
            let name = format!("adm{c}nimda");
            assert!(
                Username::parse(&name).is_err(),
                "{c:?} accepted in a username"
            );
            assert!(
                Text::parse("nickname", &name).is_err(),
                "{c:?} accepted in a name"
            );
        }
        assert!(Text::parse("name", "Ada Lovelace \u{5D0}").is_ok());
    }

    #[test]
    fn ids_and_usernames() {
        assert!(UserId::parse("id", "12").is_ok());
        assert!(UserId::parse("id", "0").is_err());
        assert!(UserId::parse("id", "abc").is_err());
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("").is_err());
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
    }
}
