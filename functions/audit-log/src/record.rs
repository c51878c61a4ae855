//! The audit log's dialect: a DynamoDB stream record (as Lambda's event source mapping delivers
//! it) in, one audit record out. Only user items are recorded (not locks, 2FA codes or
//! connections); only the fields that changed, with their old and new values; never a secret (a
//! new password hash is `password: changed`); the write's own bookkeeping (version, timestamps,
//! the stamp, the password throttle) is not a change.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Attributes a write sets about itself: who, when, which version, the throttle's counters.
const BOOKKEEPING: &[&str] = &[
    "pk",
    "id",
    "version",
    "created_at",
    "updated_at",
    "last_actor",
    "last_api",
    "last_request",
    "pw_failures",
    "pw_failed_at",
    "pw_superseded",
    "pw_changed_at",
    "pw_counted_for",
];

/// Personal data masked when records are anonymised: who the person is, how to reach them,
/// what they wrote about themselves, and DeviceHive's free-form `data`.
const PERSONAL: &[&str] = &[
    "email",
    "username",
    "name",
    "first_name",
    "last_name",
    "nickname",
    "location",
    "biography",
    "company_name",
    "wallet_address",
    "picture_url",
    "banner_url",
    "website_url",
    "twitter_url",
    "instagram_url",
    "company_logo_url",
    "data",
];

/// Why a stream record cannot be recorded (it goes to the batch's failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// One change of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldChange {
    /// Old and new values, `None` where the field was absent.
    Values {
        old: Option<Value>,
        new: Option<Value>,
    },
    /// A secret changed: that it changed is all that is recorded.
    Changed,
}

/// What one audit record holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub user_id: i64,
    /// When the change happened (the stream record's approximate creation time, RFC 3339).
    pub at: String,
    pub event_id: String,
    /// The user's version the change made (a removal: the last one); orders the changes of one
    /// second, which is all the stream's time tells.
    pub version: Option<i64>,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event: String,
    pub actor: Option<i64>,
    pub api: Option<String>,
    pub request_id: Option<String>,
    pub changes: BTreeMap<String, FieldChange>,
}

/// Reads one record of a Lambda DynamoDB stream event. `Ok(None)`: nothing to record (not a
/// user item, or no field changed).
pub fn audit_record(record: &Value, anonymise: bool) -> Result<Option<AuditRecord>, Malformed> {
    let bad = |what: &str| Malformed(what.to_owned());
    let event_id = record["eventID"]
        .as_str()
        .ok_or_else(|| bad("no eventID"))?;
    let event = record["eventName"]
        .as_str()
        .ok_or_else(|| bad("no eventName"))?;
    let stream = &record["dynamodb"];
    let keys = image(&stream["Keys"]).ok_or_else(|| bad("no Keys"))?;
    let pk = keys
        .get("pk")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no pk in Keys"))?;
    let Some(id) = pk.strip_prefix("USER#") else {
        return Ok(None);
    };
    let user_id: i64 = id.parse().map_err(|_| bad("a user key without an id"))?;
    let old = image(&stream["OldImage"]);
    let new = image(&stream["NewImage"]);
    let (old_image, new_image) = match event {
        "INSERT" => (
            None,
            Some(new.ok_or_else(|| bad("INSERT without NewImage"))?),
        ),
        "MODIFY" => (
            Some(old.ok_or_else(|| bad("MODIFY without OldImage"))?),
            Some(new.ok_or_else(|| bad("MODIFY without NewImage"))?),
        ),
        "REMOVE" => (
            Some(old.ok_or_else(|| bad("REMOVE without OldImage"))?),
            None,
        ),
        other => return Err(bad(&format!("unknown eventName {other}"))),
    };
    let changes = diff(old_image.as_ref(), new_image.as_ref(), anonymise);
    if changes.is_empty() {
        return Ok(None);
    }
    // Who: the stamp the write left; a removal has only the old image, stamped just before.
    let stamp = new_image
        .as_ref()
        .or(old_image.as_ref())
        .expect("one image");
    let created = stream["ApproximateCreationDateTime"]
        .as_f64()
        .ok_or_else(|| bad("no ApproximateCreationDateTime"))?;
    Ok(Some(AuditRecord {
        user_id,
        at: rfc3339(created),
        event_id: event_id.to_owned(),
        version: stamp.get("version").and_then(Value::as_i64),
        event: event.to_owned(),
        actor: stamp.get("last_actor").and_then(Value::as_i64),
        api: stamp
            .get("last_api")
            .and_then(Value::as_str)
            .map(str::to_owned),
        request_id: stamp
            .get("last_request")
            .and_then(Value::as_str)
            .map(str::to_owned),
        changes,
    }))
}

fn diff(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    anonymise: bool,
) -> BTreeMap<String, FieldChange> {
    let empty = Map::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut changes = BTreeMap::new();
    for field in fields {
        let (before, after) = (old.get(field), new.get(field));
        if BOOKKEEPING.contains(&field.as_str()) || before == after {
            continue;
        }
        if field == "password_hash" {
            changes.insert("password".to_owned(), FieldChange::Changed);
            continue;
        }
        let shown = |v: Option<&Value>| {
            v.cloned()
                .map(|v| match (field.as_str(), &v) {
                    // `data` is kept as JSON text: recorded as the JSON it is.
                    ("data", Value::String(text)) => serde_json::from_str(text).unwrap_or(v),
                    _ => v,
                })
                .map(|v| {
                    if anonymise && PERSONAL.contains(&field.as_str()) {
                        mask(field, &v)
                    } else {
                        v
                    }
                })
        };
        changes.insert(
            field.clone(),
            FieldChange::Values {
                old: shown(before),
                new: shown(after),
            },
        );
    }
    changes
}

/// As Unleash's `anonymise()`: a short hash of the value instead of the value (an email keeps
/// the shape of one).
fn mask(field: &str, value: &Value) -> Value {
    let json;
    let text = match value.as_str() {
        Some(text) => text,
        None => {
            json = value.to_string();
            &json
        }
    };
    let hash: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..9]
        .to_owned();
    Value::String(if field == "email" {
        format!("{hash}@anonymised.invalid")
    } else {
        format!("anon-{hash}")
    })
}

fn rfc3339(seconds: f64) -> String {
    // DynamoDB gives whole seconds (rounded down); a local stream may carry a fraction, kept to
    // the millisecond.
    let nanos = (seconds * 1000.0).round() as i128 * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A stream image (DynamoDB's typed JSON: `{"S": ...}`, `{"N": ...}`, `{"M": {...}}`, ...) as
/// plain JSON; `None` when it is not an object.
pub fn image(value: &Value) -> Option<Map<String, Value>> {
    value
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
}

fn plain(typed: &Value) -> Value {
    let Some((kind, v)) = typed.as_object().and_then(|m| m.iter().next()) else {
        return Value::Null;
    };
    match kind.as_str() {
        "S" => v.clone(),
        "N" => v
            .as_str()
            .and_then(|n| serde_json::from_str::<serde_json::Number>(n).ok())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        "BOOL" => v.clone(),
        "NULL" => Value::Null,
        "SS" => v.clone(),
        "NS" => Value::Array(
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str()?.parse::<serde_json::Number>().ok())
                .map(Value::Number)
                .collect(),
        ),
        "L" => Value::Array(v.as_array().into_iter().flatten().map(plain).collect()),
        "M" => Value::Object(
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect(),
        ),
        // Binary values are not part of a user; shown as the base64 the event carries.
        _ => v.clone(),
    }
}

impl AuditRecord {
    /// The audit table's item. The sort key puts records of one user in time order (the version
    /// orders those of one second), and the event id makes it the same item for the same record:
    /// a replay writes nothing new.
    pub fn to_item(&self, expires_at: i64) -> HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut item = HashMap::from([
            (
                "user_id".to_owned(),
                AttributeValue::N(self.user_id.to_string()),
            ),
            (
                "at".to_owned(),
                s(&format!(
                    "{}#{:020}#{}",
                    self.at,
                    self.version.unwrap_or(0),
                    self.event_id
                )),
            ),
            ("event_id".to_owned(), s(&self.event_id)),
            ("event".to_owned(), s(&self.event)),
            (
                "expires_at".to_owned(),
                AttributeValue::N(expires_at.to_string()),
            ),
        ]);
        if let Some(version) = self.version {
            item.insert("version".to_owned(), AttributeValue::N(version.to_string()));
        }
        if let Some(actor) = self.actor {
            item.insert("actor".to_owned(), AttributeValue::N(actor.to_string()));
        }
        if let Some(api) = &self.api {
            item.insert("api".to_owned(), s(api));
        }
        if let Some(request) = &self.request_id {
            item.insert("request_id".to_owned(), s(request));
        }
        let changes = self
            .changes
            .iter()
            .map(|(field, change)| {
                let value = match change {
                    FieldChange::Changed => s("changed"),
                    FieldChange::Values { old, new } => {
                        let mut m = HashMap::new();
                        if let Some(old) = old {
                            m.insert("old".to_owned(), s(&old.to_string()));
                        }
                        if let Some(new) = new {
                            m.insert("new".to_owned(), s(&new.to_string()));
                        }
                        AttributeValue::M(m)
                    }
                };
                (field.clone(), value)
            })
            .collect();
        item.insert("changes".to_owned(), AttributeValue::M(changes));
        item
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(event: &str, old: Option<Value>, new: Option<Value>, pk: &str) -> Value {
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1_735_689_600.25,
            "Keys": {"pk": {"S": pk}},
            "SequenceNumber": "111",
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        json!({"eventID": "e1", "eventName": event, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
    }

    fn user(email: &str, version: &str, extra: Value) -> Value {
        let mut u = json!({
            "pk": {"S": "USER#7"}, "id": {"N": "7"}, "email": {"S": email},
            "username": {"S": "bob"}, "version": {"N": version},
            "updated_at": {"S": "2025-01-01T00:00:00Z"},
            "last_actor": {"N": "1"}, "last_api": {"S": "unleash"}, "last_request": {"S": "r-9"},
            "roles": {"SS": ["viewer"]}, "prefs": {"M": {"3": {"M": {"value": {"S": "7"}}}}}
        });
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        u
    }

    #[test]
    fn a_modification_records_who_and_only_what_changed() {
        let r = record(
            "MODIFY",
            Some(user(
                "a@x.io",
                "1",
                json!({"password_hash": {"S": "$argon2id$old"}}),
            )),
            Some(user(
                "b@x.io",
                "2",
                json!({"password_hash": {"S": "$argon2id$new"}, "pw_failures": {"N": "0"}}),
            )),
            "USER#7",
        );
        let rec = audit_record(&r, false).unwrap().unwrap();
        assert_eq!(rec.user_id, 7);
        assert_eq!(rec.at, "2025-01-01T00:00:00.250Z");
        assert_eq!(
            (rec.actor, rec.api.as_deref(), rec.request_id.as_deref()),
            (Some(1), Some("unleash"), Some("r-9"))
        );
        assert_eq!(
            rec.changes,
            BTreeMap::from([
                (
                    "email".to_owned(),
                    FieldChange::Values {
                        old: Some(json!("a@x.io")),
                        new: Some(json!("b@x.io"))
                    }
                ),
                ("password".to_owned(), FieldChange::Changed),
            ])
        );
        let item = rec.to_item(99);
        let text = format!("{item:?}");
        assert!(!text.contains("argon2"), "{text}");
        assert_eq!(
            item["at"],
            AttributeValue::S("2025-01-01T00:00:00.250Z#00000000000000000002#e1".into())
        );
        // Changes within one second (all DynamoDB's time says) sort by the version they made.
        let later = AuditRecord {
            version: Some(10),
            event_id: "0".into(),
            ..rec.clone()
        };
        assert!(later.to_item(99)["at"].as_s().unwrap() > item["at"].as_s().unwrap());
    }

    #[test]
    fn inserts_and_removals_record_every_field_and_bookkeeping_alone_records_nothing() {
        let inserted = audit_record(
            &record(
                "INSERT",
                None,
                Some(user("a@x.io", "1", json!({}))),
                "USER#7",
            ),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            inserted.changes.keys().collect::<Vec<_>>(),
            ["email", "prefs", "roles", "username"]
        );
        assert_eq!(
            inserted.changes["prefs"],
            FieldChange::Values {
                old: None,
                new: Some(json!({"3": {"value": "7"}}))
            }
        );
        let removed = audit_record(
            &record(
                "REMOVE",
                Some(user("a@x.io", "3", json!({}))),
                None,
                "USER#7",
            ),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(removed.event, "REMOVE");
        assert_eq!(removed.api.as_deref(), Some("unleash"));
        // A version bump, a stamp, a throttle count: no change of the user.
        let bump = record(
            "MODIFY",
            Some(user("a@x.io", "1", json!({}))),
            Some(user(
                "a@x.io",
                "2",
                json!({"pw_failures": {"N": "1"}, "last_request": {"S": "other"}}),
            )),
            "USER#7",
        );
        assert_eq!(audit_record(&bump, false), Ok(None));
    }

    #[test]
    fn only_user_items_are_recorded() {
        for pk in [
            "EMAIL#a@x.io",
            "USERNAME#bob",
            "UUID#x",
            "CODE#7#a@x.io",
            "CONN#abc",
        ] {
            let r = record(
                "INSERT",
                None,
                Some(json!({"pk": {"S": pk}, "user_id": {"N": "7"}})),
                pk,
            );
            assert_eq!(audit_record(&r, false), Ok(None), "{pk}");
        }
    }

    #[test]
    fn anonymised_records_mask_personal_data() {
        let r = record(
            "MODIFY",
            Some(user("a@x.io", "1", json!({"name": {"S": "Ann"}}))),
            Some(user(
                "b@x.io",
                "2",
                json!({"name": {"S": "Bea"}, "status": {"S": "locked"},
                       "location": {"S": "Lisbon"}, "wallet_address": {"S": "addr1qxy"},
                       "data": {"S": "{\"phone\":\"+351 555\"}"}}),
            )),
            "USER#7",
        );
        let rec = audit_record(&r, true).unwrap().unwrap();
        let text = format!("{:?}", rec.changes);
        for secret in [
            "a@x.io", "b@x.io", "Ann", "Bea", "Lisbon", "addr1qxy", "555",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        let FieldChange::Values {
            new: Some(Value::String(email)),
            ..
        } = &rec.changes["email"]
        else {
            panic!("{text}")
        };
        assert!(email.ends_with("@anonymised.invalid"), "{email}");
        assert_eq!(
            rec.changes["status"],
            FieldChange::Values {
                old: None,
                new: Some(json!("locked"))
            }
        );
    }

    #[test]
    fn malformed_records_say_why() {
        for bad in [
            json!({}),
            json!({"eventID": "e", "eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "USER#7"}}}}),
            json!({"eventID": "e", "eventName": "TRUNCATE", "dynamodb": {"Keys": {"pk": {"S": "USER#7"}}}}),
            json!({"eventID": "e", "eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "USER#x"}}}}),
        ] {
            assert!(audit_record(&bad, false).is_err(), "{bad}");
        }
    }
}
