//! The table definition. `template.yaml` is the one source: `userctl create-table` reads the
//! `UsersTable` resource from the template compiled into it, so the two cannot drift apart.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// The SAM template, as committed.
pub const TEMPLATE_YAML: &str = include_str!("../../template.yaml");
/// The logical id of the table in the template.
pub const TABLE_RESOURCE: &str = "UsersTable";

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

/// What of the table's definition `create-table` reproduces: keys, indexes, TTL, billing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    pub billing_mode: String,
    pub time_to_live_specification: Option<TtlDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<serde_yaml_ng::Value>,
}

impl TableDef {
    /// Reads the table from the SAM template text.
    pub fn from_template(yaml: &str) -> Result<Self> {
        let doc: Value = serde_yaml_ng::from_str(yaml)
            .map_err(|e| Error::Internal(format!("template.yaml does not parse: {e}")))?;
        let props = doc
            .get("Resources")
            .and_then(|r| r.get(TABLE_RESOURCE))
            .and_then(|t| t.get("Properties"))
            .ok_or_else(|| Error::Internal(format!("template.yaml has no {TABLE_RESOURCE}")))?;
        // Keep only the plain fields: the rest may hold CloudFormation tags (!Ref, !Sub).
        let wanted = [
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "TimeToLiveSpecification",
            "GlobalSecondaryIndexes",
        ];
        let mut plain = serde_yaml_ng::Mapping::new();
        for key in wanted {
            if let Some(v) = props.get(key) {
                plain.insert(Value::String(key.to_owned()), v.clone());
            }
        }
        serde_yaml_ng::from_value(Value::Mapping(plain))
            .map_err(|e| Error::Internal(format!("{TABLE_RESOURCE} is not understood: {e}")))
    }

    pub fn from_committed_template() -> Result<Self> {
        Self::from_template(TEMPLATE_YAML)
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
    }
}
