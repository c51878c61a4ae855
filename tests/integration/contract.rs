//! The published contract matches what is deployed and served: the (method, path) operations of
//! `openapi.yaml` are exactly the HttpApi events of `template.yaml` and exactly what
//! `userctl routes` prints; every operation documents 401 and declares each of its path
//! parameters; every `$ref` resolves.

use crate::USERCTL;

use std::collections::BTreeSet;

use serde_yaml_ng::Value;
use testkit::{config, userctl, workspace_root};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn load(file: &str) -> Value {
    let path = workspace_root().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"))
}

fn openapi() -> Value {
    let doc = load("openapi.yaml");
    assert_eq!(
        doc["openapi"].as_str(),
        Some("3.0.3"),
        "openapi.yaml is an OpenAPI 3.0.3 document"
    );
    doc
}

/// `(METHOD, /path)` of every operation in `openapi.yaml`.
fn openapi_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_mapping().expect("openapi.yaml has paths");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path keys are strings");
        let item = item.as_mapping().expect("a path item is a mapping");
        for (key, _) in item {
            let key = key.as_str().expect("path item keys are strings");
            if METHODS.contains(&key) {
                ops.insert((key.to_ascii_uppercase(), path.to_owned()));
            }
        }
    }
    ops
}

/// `(METHOD, /path)` of every HttpApi event of every function in `template.yaml`.
fn template_routes() -> BTreeSet<(String, String)> {
    let template = load("template.yaml");
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"]
        .as_mapping()
        .expect("template.yaml has Resources")
    {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"] == "HttpApi" {
                let p = &event["Properties"];
                routes.insert((
                    p["Method"].as_str().expect("Method").to_ascii_uppercase(),
                    p["Path"].as_str().expect("Path").to_owned(),
                ));
            }
        }
    }
    routes
}

/// `(METHOD, /path)` of every route `userctl serve` answers, from `userctl routes`.
fn served_routes() -> BTreeSet<(String, String)> {
    let (ok, out, err) = userctl(USERCTL, &config("unused"), &["routes"]);
    assert!(ok, "userctl routes failed: {err}");
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (method, path) = l
                .trim()
                .split_once(' ')
                .unwrap_or_else(|| panic!("not `METHOD /path`: {l:?}"));
            (method.to_owned(), path.trim().to_owned())
        })
        .collect()
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        v = lookup(doc, r).unwrap_or_else(|| panic!("$ref {r} does not resolve"));
    }
    panic!("$ref chain too long");
}

fn lookup<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix("#/")?;
    let mut v = doc;
    for part in pointer.split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        v = v.get(part.as_str())?;
    }
    Some(v)
}

fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn openapi_operations_equal_template_routes_equal_served_routes() {
    let doc = openapi();
    let documented = openapi_operations(&doc);
    let deployed = template_routes();
    let served = served_routes();
    assert_eq!(
        documented, deployed,
        "openapi.yaml operations differ from template.yaml HttpApi events"
    );
    assert_eq!(
        deployed, served,
        "template.yaml HttpApi events differ from `userctl routes`"
    );
    assert_eq!(documented.len(), 10, "{documented:?}");
}

#[test]
fn every_operation_documents_401_and_declares_its_path_parameters() {
    let doc = openapi();
    for (method, path) in openapi_operations(&doc) {
        let item = &doc["paths"][path.as_str()];
        let op = &item[method.to_ascii_lowercase().as_str()];
        let what = format!("{method} {path}");

        let responses = op["responses"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{what}: no responses"));
        let status_of = |k: &Value| match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("{what}: response key {other:?}"),
        };
        let unauthorized = responses
            .iter()
            .find(|(k, _)| status_of(k) == "401")
            .map(|(_, v)| resolve(&doc, v))
            .unwrap_or_else(|| {
                let statuses: Vec<String> = responses.keys().map(status_of).collect();
                panic!("{what}: no 401 response ({statuses:?})")
            });
        assert!(
            unauthorized["content"]["application/json"]["schema"].is_mapping(),
            "{what}: the 401 response has no JSON body schema"
        );

        // Path parameters: declared on the path item or the operation (an operation's
        // declaration overrides the path item's of the same name and location).
        let mut declared = BTreeSet::new();
        for params in [&item["parameters"], &op["parameters"]] {
            for p in params.as_sequence().into_iter().flatten() {
                let p = resolve(&doc, p);
                if p["in"] == "path" {
                    let name = p["name"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{what}: a path parameter without a name"));
                    assert_eq!(
                        p["required"].as_bool(),
                        Some(true),
                        "{what}: path parameter {name} must be required"
                    );
                    assert!(
                        p["schema"].is_mapping(),
                        "{what}: path parameter {name} has no schema"
                    );
                    declared.insert(name.to_owned());
                }
            }
        }
        assert_eq!(
            declared,
            template_params(&path),
            "{what}: declared path parameters differ from the path template's"
        );
    }
}

#[test]
fn every_ref_in_openapi_resolves() {
    fn walk(doc: &Value, v: &Value, seen: &mut usize) {
        match v {
            Value::Mapping(m) => {
                for (k, child) in m {
                    if k.as_str() == Some("$ref") {
                        let r = child.as_str().expect("$ref is a string");
                        assert!(lookup(doc, r).is_some(), "$ref {r} does not resolve");
                        *seen += 1;
                    } else {
                        walk(doc, child, seen);
                    }
                }
            }
            Value::Sequence(s) => s.iter().for_each(|c| walk(doc, c, seen)),
            _ => {}
        }
    }
    let doc = openapi();
    let mut seen = 0;
    walk(&doc, &doc, &mut seen);
    assert!(seen > 0);
}

/// The WebSocket API's routes in `template.yaml` are exactly the DeviceHive actions the function
/// answers, and every action route is two-way (its answer goes back on the socket).
#[test]
fn template_websocket_routes_equal_the_devicehive_actions() {
    let template = load("template.yaml");
    let resources = template["Resources"]
        .as_mapping()
        .expect("template.yaml has Resources");
    let mut routes = BTreeSet::new();
    let mut two_way = BTreeSet::new();
    for (name, resource) in resources {
        if resource["Type"] == "AWS::ApiGatewayV2::Route" {
            let key = resource["Properties"]["RouteKey"]
                .as_str()
                .expect("RouteKey")
                .to_owned();
            routes.insert(key.clone());
            // `RouteId: !Ref <the route's logical id>`.
            let refers_to_route = |v: &Value| match v {
                Value::Tagged(t) => t.tag == "Ref" && t.value.as_str() == name.as_str(),
                _ => false,
            };
            let has_response = resources.values().any(|r| {
                r["Type"] == "AWS::ApiGatewayV2::RouteResponse"
                    && refers_to_route(&r["Properties"]["RouteId"])
            });
            if has_response
                && resource["Properties"]["RouteResponseSelectionExpression"].is_string()
            {
                two_way.insert(key);
            }
        }
    }
    let actions: BTreeSet<String> = devicehive_user_update::dialect::ROUTE_KEYS
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(routes, actions);
    let answered: BTreeSet<String> = actions
        .into_iter()
        .filter(|k| k != "$connect" && k != "$disconnect")
        .collect();
    assert_eq!(two_way, answered, "every message route is two-way");
}

/// The audit log writes only the audit table and never holds the JWT secret; no endpoint function
/// can touch the audit table.
#[test]
fn the_audit_log_has_least_privilege() {
    let template = load("template.yaml");
    let resources = &template["Resources"];
    let audit = &resources["AuditLogFunction"]["Properties"];
    let statements = audit["Policies"][0]["Statement"]
        .as_sequence()
        .expect("the audit log's policy statements");
    assert_eq!(statements.len(), 1);
    assert_eq!(
        statements[0]["Action"],
        serde_yaml_ng::from_str::<Value>("[dynamodb:PutItem]").unwrap()
    );
    let resource = format!("{:?}", statements[0]["Resource"]);
    assert!(resource.contains("AuditTable"), "{resource}");
    let variables = audit["Environment"]["Variables"]
        .as_mapping()
        .expect("the audit log's environment");
    assert!(variables
        .keys()
        .all(|k| !k.as_str().unwrap_or("").starts_with("JWT_")));
    let globals = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .expect("global environment");
    assert!(globals
        .keys()
        .all(|k| !k.as_str().unwrap_or("").starts_with("JWT_")));
    for (name, resource) in resources.as_mapping().unwrap() {
        if resource["Type"] == "AWS::Serverless::Function"
            && name.as_str() != Some("AuditLogFunction")
        {
            let policies = format!("{:?}", resource["Properties"]["Policies"]);
            assert!(
                !policies.contains("AuditTable"),
                "{name:?} may touch the audit table"
            );
        }
    }
}

/// Each token-verifying function gets exactly the key of the chosen mode: the public key or the
/// key set URL (verify-only), or the HS256 secret only behind the explicit `Hs256` condition, so
/// a default deploy leaves no function holding anything that can sign a token.
#[test]
fn only_the_explicit_hs256_mode_puts_a_signing_secret_in_a_function() {
    let template = load("template.yaml");
    let mode = |value: &Value| -> Option<String> {
        // `!If [Condition, value, !Ref AWS::NoValue]`, as YAML sees the tag.
        let text = format!("{value:?}");
        text.contains("AWS::NoValue").then_some(text)
    };
    let mut verifying = 0;
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let variables = &resource["Properties"]["Environment"]["Variables"];
        if resource["Type"] != "AWS::Serverless::Function" || variables["JWT_ISSUER"].is_null() {
            continue;
        }
        verifying += 1;
        for (variable, condition) in [
            ("JWT_SECRET", "Hs256"),
            ("JWT_PUBLIC_KEY", "VerifyOnly"),
            ("JWT_JWKS_URL", "Jwks"),
        ] {
            let value = mode(&variables[variable])
                .unwrap_or_else(|| panic!("{name:?} {variable} is not behind a condition"));
            assert!(
                value.contains(&format!("\"{condition}\"")),
                "{name:?} {variable} is not behind {condition}: {value}"
            );
        }
    }
    assert_eq!(verifying, 7, "the seven token-verifying functions");
    let conditions = format!("{:?}", template["Conditions"]["Hs256"]);
    assert!(conditions.contains("JwtSecretArn"), "{conditions}");
    assert_eq!(
        template["Parameters"]["JwtSecretArn"]["Default"].as_str(),
        Some(""),
        "HS256 is an option, not the default"
    );
}
