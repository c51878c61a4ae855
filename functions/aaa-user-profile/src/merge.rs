//! AAA's upserts: a sent preference or property is merged over the stored entry with the same id
//! (sub-fields not sent keep their value; entries not named stay), bounded in number.

use std::collections::BTreeMap;

use shared::error::Error;
use shared::user::{Preference, Property};
use shared::values::MAX_ENTRIES;

use crate::dialect::{PreferenceInput, PropertyInput};

impl PreferenceInput {
    /// The entry after this upsert: sent sub-fields over `stored`'s, else empty / unlocked.
    pub fn merge(&self, stored: Option<&Preference>) -> Preference {
        Preference {
            id: self.id,
            name: pick(&self.name, stored.map(|p| &p.name)),
            value: pick(&self.value, stored.map(|p| &p.value)),
            locked: self.locked.or(stored.map(|p| p.locked)).unwrap_or(false),
            description: pick(&self.description, stored.map(|p| &p.description)),
        }
    }
}

impl PropertyInput {
    pub fn merge(&self, stored: Option<&Property>) -> Property {
        Property {
            id: self.id,
            name: pick(&self.name, stored.map(|p| &p.name)),
            value: pick(&self.value, stored.map(|p| &p.value)),
            description: pick(&self.description, stored.map(|p| &p.description)),
        }
    }
}

fn pick(sent: &Option<String>, stored: Option<&String>) -> String {
    sent.clone().or_else(|| stored.cloned()).unwrap_or_default()
}

/// An entry of the request that is upserted by id over a stored one.
pub trait Upsert {
    type Entry: Clone;
    fn id(&self) -> i64;
    fn merge(&self, stored: Option<&Self::Entry>) -> Self::Entry;
}

impl Upsert for PreferenceInput {
    type Entry = Preference;
    fn id(&self) -> i64 {
        self.id
    }
    fn merge(&self, stored: Option<&Preference>) -> Preference {
        PreferenceInput::merge(self, stored)
    }
}

impl Upsert for PropertyInput {
    type Entry = Property;
    fn id(&self) -> i64 {
        self.id
    }
    fn merge(&self, stored: Option<&Property>) -> Property {
        PropertyInput::merge(self, stored)
    }
}

/// The upserts of `sent` over `stored`, in request order (a repeated id merges over its
/// previous occurrence), refused when the user would hold more than `MAX_ENTRIES` entries.
fn merge_entries<I: Upsert>(
    field: &str,
    stored: &BTreeMap<i64, I::Entry>,
    sent: &[I],
) -> Result<BTreeMap<i64, I::Entry>, Error> {
    let mut merged: BTreeMap<i64, I::Entry> = BTreeMap::new();
    for p in sent {
        let base = merged.get(&p.id()).or_else(|| stored.get(&p.id()));
        let entry = p.merge(base);
        merged.insert(p.id(), entry);
    }
    let total = stored.len() + merged.keys().filter(|id| !stored.contains_key(id)).count();
    if total > MAX_ENTRIES {
        return Err(Error::invalid(
            field,
            format!(
                "a user holds at most {MAX_ENTRIES} {}; this would make {total}",
                field.to_lowercase()
            ),
        ));
    }
    Ok(merged)
}

pub fn merge_preferences(
    stored: &BTreeMap<i64, Preference>,
    sent: &[PreferenceInput],
) -> Result<BTreeMap<i64, Preference>, Error> {
    merge_entries("Preferences", stored, sent)
}

pub fn merge_properties(
    stored: &BTreeMap<i64, Property>,
    sent: &[PropertyInput],
) -> Result<BTreeMap<i64, Property>, Error> {
    merge_entries("Properties", stored, sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: i64, value: &str, locked: bool) -> (i64, Preference) {
        (
            id,
            Preference {
                id,
                name: format!("p{id}"),
                value: value.into(),
                locked,
                description: "d".into(),
            },
        )
    }

    #[test]
    fn sent_sub_fields_merge_over_the_stored_entry() {
        let current = BTreeMap::from([stored(1, "a", true)]);
        let sent = [
            PreferenceInput {
                id: 1,
                name: None,
                value: Some("b".into()),
                locked: None,
                description: None,
            },
            PreferenceInput {
                id: 2,
                name: Some("new".into()),
                value: None,
                locked: None,
                description: None,
            },
        ];
        let merged = merge_preferences(&current, &sent).unwrap();
        assert_eq!(merged[&1].value, "b");
        assert_eq!(merged[&1].name, "p1");
        assert!(merged[&1].locked, "a sub-field not sent keeps its value");
        assert_eq!(merged[&2].name, "new");
        assert_eq!(merged[&2].value, "");
        assert!(!merged[&2].locked);
    }

    #[test]
    fn no_user_holds_more_than_the_limit() {
        let current: BTreeMap<i64, Property> = (1..=MAX_ENTRIES as i64)
            .map(|id| {
                (
                    id,
                    Property {
                        id,
                        name: String::new(),
                        value: String::new(),
                        description: String::new(),
                    },
                )
            })
            .collect();
        let input = |id| PropertyInput {
            id,
            name: None,
            value: Some("v".into()),
            description: None,
        };
        assert!(merge_properties(&current, &[input(1)]).is_ok());
        assert!(matches!(
            merge_properties(&current, &[input(MAX_ENTRIES as i64 + 1)]),
            Err(Error::Invalid(_))
        ));
    }
}
