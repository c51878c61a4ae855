//! The table definitions. `template.yaml` is the one source: `userctl create-table` reads the
//! `UsersTable` and `AuditTable` resources from the template compiled into it, so they cannot
//! drift apart.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// The SAM template, as committed.
pub const TEMPLATE_YAML: &str = include_str!("../../template.yaml");
/// The logical id of the user table in the template.
pub const TABLE_RESOURCE: &str = "UsersTable";
/// The logical id of the audit table in the template.
pub const AUDIT_TABLE_RESOURCE: &str = "AuditTable";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    pub stream_view_type: String,
}

/// What of the table's definition `create-table` reproduces: keys, indexes, TTL, stream, billing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    pub billing_mode: String,
    pub time_to_live_specification: Option<TtlDef>,
    pub stream_specification: Option<StreamDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<serde_yaml_ng::Value>,
}

impl TableDef {
    /// Reads the user table from the SAM template text.
    pub fn from_template(yaml: &str) -> Result<Self> {
        Self::resource_from_template(yaml, TABLE_RESOURCE)
    }

    /// Reads the table `resource` (a logical id) from the SAM template text.
    pub fn resource_from_template(yaml: &str, resource: &str) -> Result<Self> {
        let doc: Value = serde_yaml_ng::from_str(yaml)
            .map_err(|e| Error::Internal(format!("template.yaml does not parse: {e}")))?;
        let props = doc
            .get("Resources")
            .and_then(|r| r.get(resource))
            .and_then(|t| t.get("Properties"))
            .ok_or_else(|| Error::Internal(format!("template.yaml has no {resource}")))?;
        // Keep only the plain fields: the rest may hold CloudFormation tags (!Ref, !Sub).
        let wanted = [
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "TimeToLiveSpecification",
            "StreamSpecification",
            "GlobalSecondaryIndexes",
        ];
        let mut plain = serde_yaml_ng::Mapping::new();
        for key in wanted {
            if let Some(v) = props.get(key) {
                plain.insert(Value::String(key.to_owned()), v.clone());
            }
        }
        serde_yaml_ng::from_value(Value::Mapping(plain))
            .map_err(|e| Error::Internal(format!("{resource} is not understood: {e}")))
    }

    pub fn from_committed_template() -> Result<Self> {
        Self::from_template(TEMPLATE_YAML)
    }

    pub fn audit_from_committed_template() -> Result<Self> {
        Self::resource_from_template(TEMPLATE_YAML, AUDIT_TABLE_RESOURCE)
    }

    /// Creates the table (and enables TTL) as defined.
    pub async fn create(&self, client: &aws_sdk_dynamodb::Client, table_name: &str) -> Result<()> {
        if !self.global_secondary_indexes.is_empty() {
            return Err(Error::Internal(
                "the template defines GSIs, which create-table does not reproduce yet".into(),
            ));
        }
        let build = |e: aws_sdk_dynamodb::error::BuildError| Error::Internal(e.to_string());
        let mut req = client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::from(self.billing_mode.as_str()));
        for a in &self.attribute_definitions {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(build)?,
            );
        }
        for k in &self.key_schema {
            req = req.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(&k.attribute_name)
                    .key_type(KeyType::from(k.key_type.as_str()))
                    .build()
                    .map_err(build)?,
            );
        }
        if let Some(stream) = &self.stream_specification {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                    .build()
                    .map_err(build)?,
            );
        }
        req.send().await.map_err(|e| {
            Error::Internal(format!(
                "CreateTable failed: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            ))
        })?;
        if let Some(ttl) = &self.time_to_live_specification {
            client
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute_name)
                        .enabled(ttl.enabled)
                        .build()
                        .map_err(build)?,
                )
                .send()
                .await
                .map_err(|e| {
                    Error::Internal(format!(
                        "UpdateTimeToLive failed: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    ))
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_table_matches_what_the_store_uses() {
        let def = TableDef::from_committed_template().unwrap();
        assert_eq!(
            def.key_schema,
            vec![KeyDef {
                attribute_name: crate::store::PK.into(),
                key_type: "HASH".into()
            }]
        );
        assert_eq!(
            def.attribute_definitions,
            vec![AttributeDef {
                attribute_name: crate::store::PK.into(),
                attribute_type: "S".into()
            }]
        );
        assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(
            def.time_to_live_specification,
            Some(TtlDef {
                attribute_name: crate::store::TTL_ATTRIBUTE.into(),
                enabled: true
            })
        );
        assert_eq!(
            def.stream_specification,
            Some(StreamDef {
                stream_view_type: "NEW_AND_OLD_IMAGES".into()
            })
        );
    }

    #[test]
    fn the_audit_table_is_keyed_by_user_and_time() {
        let def = TableDef::audit_from_committed_template().unwrap();
        let keys: Vec<(&str, &str)> = def
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect();
        assert_eq!(keys, [("user_id", "HASH"), ("at", "RANGE")]);
        assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
        assert!(def.time_to_live_specification.is_some_and(|t| t.enabled));
        assert!(def.stream_specification.is_none());
    }
}
