//! Update expressions: only the attributes a patch names are written, each through a placeholder.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, preference_to_av, property_to_av, s, stamp_attributes};
use crate::auth::now_unix;
use crate::patch::{Change, RolesChange, UserPatch};
use crate::stamp::Stamp;
use crate::values::{JsonObject, PasswordHash, Status};

/// Builds an update expression with placeholders for every name and value.
#[derive(Default)]
pub(super) struct UpdateExpr {
    pub(super) sets: Vec<String>,
    pub(super) removes: Vec<String>,
    pub(super) adds: Vec<String>,
    pub(super) deletes: Vec<String>,
    pub(super) conditions: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl UpdateExpr {
    pub(super) fn name(&mut self, attr: &str) -> String {
        let placeholder = format!(
            "#{}",
            attr.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub(super) fn set(&mut self, attr: &str, v: AttributeValue) {
        let name = self.name(attr);
        let value = self.value(v);
        self.sets.push(format!("{name} = {value}"));
    }

    pub(super) fn set_opt_str(&mut self, attr: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.set(attr, s(v));
        }
    }

    /// `SET attr = :v` for a new value, `REMOVE attr` for a cleared one, nothing when not sent.
    pub(super) fn change_str(&mut self, attr: &str, change: Option<Change<&str>>) {
        match change {
            None => {}
            Some(Change::Set(v)) => self.set(attr, s(v)),
            Some(Change::Clear) => {
                let name = self.name(attr);
                self.removes.push(name);
            }
        }
    }

    /// `SET map.#key = :v`: upserts one entry of a map attribute without touching the others.
    pub(super) fn set_entry(&mut self, map: &str, key: i64, v: AttributeValue) {
        let map = self.name(map);
        let entry = format!("#k{}", self.names.len());
        self.names.insert(entry.clone(), key.to_string());
        let value = self.value(v);
        self.sets.push(format!("{map}.{entry} = {value}"));
    }

    pub(super) fn condition(&mut self, c: String) {
        self.conditions.push(c);
    }

    pub(super) fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        if !self.deletes.is_empty() {
            parts.push(format!("DELETE {}", self.deletes.join(", ")));
        }
        parts.join(" ")
    }

    pub(super) fn condition_expression(&self) -> String {
        self.conditions.join(" AND ")
    }

    /// Who writes (`last_actor`, `last_api`, `last_request`): every write of a user sets them.
    pub(super) fn stamp(&mut self, stamp: &Stamp) {
        for (attr, value) in stamp_attributes(stamp) {
            match value {
                Some(v) => self.set(attr, v),
                None => {
                    let name = self.name(attr);
                    self.removes.push(name);
                }
            }
        }
    }

    /// Only the attributes the patch names are written, plus `version`, `updated_at` and the
    /// stamp.
    pub(super) fn from_patch(p: &UserPatch, now: &str, stamp: &Stamp) -> Self {
        let mut e = Self::default();
        e.stamp(stamp);
        e.set_opt_str("username", p.username.as_ref().map(|u| u.as_str()));
        e.set_opt_str("email", p.email.as_ref().map(|v| v.as_str()));
        e.set_opt_str("name", p.name.as_ref().map(|v| v.as_str()));
        e.change_str("first_name", p.first_name.as_ref().map(Change::as_str));
        e.change_str("last_name", p.last_name.as_ref().map(Change::as_str));
        e.change_str("nickname", p.nickname.as_ref().map(Change::as_str));
        e.set_opt_str("status", p.status.map(Status::as_str));
        e.set_opt_str(
            "password_hash",
            p.password_hash.as_ref().map(PasswordHash::as_phc),
        );
        if p.clear_password && p.password_hash.is_none() {
            let name = e.name("password_hash");
            e.removes.push(name);
        }
        let data = p.data.as_ref().map(|c| c.map(JsonObject::to_json_string));
        e.change_str("data", data.as_ref().map(Change::as_str));
        if let Some(a) = p.auth_type {
            e.set("auth_type", n(a));
        }
        if let Some(r) = p.root_role {
            e.set("root_role", n(r));
        }
        if let Some(b) = p.intro_reviewed {
            e.set("intro_reviewed", AttributeValue::Bool(b));
        }
        if let Some(h) = &p.superseded_hash {
            e.set("pw_superseded", s(h.as_phc()));
            e.set("pw_changed_at", n(now_unix()));
        }
        if p.reset_password_failures {
            e.set("pw_failures", n(0));
            let name = e.name("pw_failed_at");
            e.removes.push(name);
        }
        match &p.roles {
            None => {}
            Some(RolesChange::Replace(roles)) if roles.is_empty() => {
                let name = e.name("roles");
                e.removes.push(name);
            }
            Some(RolesChange::Replace(roles)) => e.set(
                "roles",
                AttributeValue::Ss(roles.iter().map(|r| r.as_str().to_owned()).collect()),
            ),
            // ADD/DELETE on a string set are atomic: no read needed to grant or revoke.
            Some(RolesChange::Grant(role)) => {
                let name = e.name("roles");
                let v = e.value(AttributeValue::Ss(vec![role.as_str().to_owned()]));
                e.adds.push(format!("{name} {v}"));
            }
            Some(RolesChange::Revoke(role)) => {
                let name = e.name("roles");
                let v = e.value(AttributeValue::Ss(vec![role.as_str().to_owned()]));
                e.deletes.push(format!("{name} {v}"));
            }
        }
        for pref in &p.preferences {
            e.set_entry("prefs", pref.id, preference_to_av(pref));
        }
        for prop in &p.properties {
            e.set_entry("props", prop.id, property_to_av(prop));
        }
        let m = &p.newm;
        let urls = [
            ("picture_url", &m.picture_url),
            ("banner_url", &m.banner_url),
            ("website_url", &m.website_url),
            ("twitter_url", &m.twitter_url),
            ("instagram_url", &m.instagram_url),
            ("company_logo_url", &m.company_logo_url),
        ];
        for (attr, v) in urls {
            e.change_str(attr, v.as_ref().map(Change::as_str));
        }
        let texts = [
            ("location", &m.location),
            ("profession", &m.role),
            ("genre", &m.genre),
            ("biography", &m.biography),
            ("company_name", &m.company_name),
        ];
        for (attr, v) in texts {
            e.change_str(attr, v.as_ref().map(Change::as_str));
        }
        e.set_opt_str(
            "wallet_address",
            m.wallet_address.as_ref().map(|t| t.as_str()),
        );
        if let Some(b) = m.company_ip_rights {
            e.set("company_ip_rights", AttributeValue::Bool(b));
        }
        e.set("updated_at", s(now));
        let version = e.name("version");
        let one = e.value(n(1));
        e.adds.push(format!("{version} {one}"));
        e
    }
}
#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn blind_update_writes_only_what_was_sent() {
        let patch = UserPatch {
            name: Some(crate::values::Text::parse("name", "N").unwrap()),
            roles: Some(RolesChange::Grant(crate::values::Role::admin())),
            ..Default::default()
        };
        let stamp = Stamp::new(None, crate::stamp::api::USERCTL, "r");
        let e = UpdateExpr::from_patch(&patch, "now", &stamp);
        let written: BTreeSet<&str> = e.names.values().map(String::as_str).collect();
        assert_eq!(
            written,
            BTreeSet::from([
                "name",
                "roles",
                "updated_at",
                "version",
                "last_actor",
                "last_api",
                "last_request"
            ])
        );
        assert!(e.update_expression().contains("REMOVE #last_actor"));
        assert!(e.update_expression().contains("ADD #roles"));
    }
}
