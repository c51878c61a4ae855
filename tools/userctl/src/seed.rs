//! `userctl seed FILE`: users from a JSON array, through the store's own create (so uniqueness is
//! decided by the same conditional transaction), all or nothing.

use std::path::Path;

use serde::Deserialize;
use shared::stamp::{api, Stamp};
use shared::store::Store;
use shared::user::{NewUser, Preference, Property};
use shared::values::{Email, JsonObject, Password, Role, Status, Text, UserId, Username};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedUser {
    id: i64,
    uuid: String,
    username: String,
    email: String,
    password: String,
    roles: Vec<String>,
    status: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    /// AAA authentication type: 1 Internal (default).
    #[serde(default)]
    auth_type: Option<i64>,
    /// Unleash root role id.
    #[serde(default)]
    root_role: Option<i64>,
    #[serde(default)]
    intro_reviewed: Option<bool>,
    #[serde(default)]
    preferences: Vec<Preference>,
    #[serde(default)]
    properties: Vec<Property>,
}

impl SeedUser {
    async fn into_new_user(self) -> Result<NewUser, String> {
        let text = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| Text::parse(field, s))
                .transpose()
                .map_err(|e| e.to_string())
        };
        let uuid = self.uuid.trim().to_lowercase();
        if uuid.len() != 36 || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(format!("uuid: not a UUID: {:?}", self.uuid));
        }
        let password = Password::parse("password", &self.password, 8).map_err(|e| e.to_string())?;
        Ok(NewUser {
            id: UserId::new(self.id).map_err(|e| e.to_string())?,
            uuid,
            username: Username::parse(&self.username).map_err(|e| e.to_string())?,
            email: Email::parse(&self.email).map_err(|e| e.to_string())?,
            password_hash: Some(
                shared::password::hash(password)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            roles: self
                .roles
                .iter()
                .map(|r| Role::parse(r))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            status: Status::parse(&self.status).map_err(|e| e.to_string())?,
            name: text("name", &self.name)?,
            first_name: text("firstName", &self.first_name)?,
            last_name: text("lastName", &self.last_name)?,
            nickname: text("nickname", &self.nickname)?,
            data: self
                .data
                .map(|d| JsonObject::parse("data", d))
                .transpose()
                .map_err(|e| e.to_string())?,
            auth_type: self.auth_type.unwrap_or(1),
            root_role: self.root_role,
            preferences: self.preferences,
            properties: self.properties,
            intro_reviewed: self.intro_reviewed,
        })
    }
}

/// Loads the file; on any failure, removes the users this run created and says which entry failed.
pub async fn seed_file(store: &Store, path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a JSON array: {e}", path.display()))?;
    let mut users = Vec::with_capacity(raw.len());
    let mut first_with_id = std::collections::HashMap::new();
    for (i, value) in raw.into_iter().enumerate() {
        let seed: SeedUser =
            serde_json::from_value(value).map_err(|e| format!("user #{}: {e}", i + 1))?;
        let id = seed.id;
        // One run creates each user once: a second entry with an id would be taken for the
        // first one's create, and its values silently dropped.
        if let Some(first) = first_with_id.insert(id, i + 1) {
            return Err(format!(
                "user #{} (id {id}): the id of user #{first} again; each id once",
                i + 1
            ));
        }
        users.push(
            seed.into_new_user()
                .await
                .map_err(|e| format!("user #{} (id {id}): {e}", i + 1))?,
        );
    }
    // One stamp for the run: each user it creates carries it, so a create whose answer was lost
    // is recognised as this run's, and undone with the others if the run fails.
    let stamp = Stamp::new(None, api::USERCTL, uuid::Uuid::new_v4().to_string());
    let mut created = Vec::new();
    for (i, user) in users.iter().enumerate() {
        if let Err(e) = store.create(user, &stamp).await {
            let mut message = format!("user #{} (id {}): {e}", i + 1, user.id);
            if let Ok(Some(stored)) = store.get(user.id).await {
                if stored.written_by(&stamp) {
                    created.push(user.id);
                }
            }
            for id in created.iter().rev() {
                if let Err(undo) = store.delete(*id, &stamp).await {
                    message.push_str(&format!("; and undoing user {id} failed: {undo}"));
                }
            }
            return Err(message);
        }
        created.push(user.id);
    }
    Ok(created.len())
}
