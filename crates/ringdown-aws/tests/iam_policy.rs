//! infra/ringdown.yaml against the code, offline:
//!
//! - the ECS task role allows exactly the IAM actions the daemon's SDK calls
//!   need (crates/ringdown-aws/src/{sqs,dynamodb,connect,kinesis,sns}.rs),
//!   no missing permission and none more, and never on `Resource: "*"`;
//! - the DynamoDB tables, queues, topic and stream carry the names and key
//!   schemas of `bootstrap::ResourceNames` and `dynamodb::table_specs`.
//!
//! CloudFormation short forms (`!Sub`, `!Ref`, `!GetAtt`) arrive from
//! serde_yaml as `Value::Tagged`; `untag` looks through them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ringdown_aws::bootstrap::ResourceNames;
use ringdown_aws::dynamodb::{table_specs, AttrKind, KeyAttr, Projection};
use serde_yaml::Value;

/// The source files (or directories of them) whose SDK calls the daemon
/// makes, and their IAM prefix.
/// bootstrap.rs is left out on purpose: its calls (CreateTable, CreateQueue,
/// …) belong to `ringdown aws bootstrap`, run by an operator, not the task.
const SOURCES: &[(&str, &str)] = &[
    ("sqs.rs", "sqs"),
    ("dynamodb", "dynamodb"),
    ("connect.rs", "connect"),
    ("kinesis.rs", "kinesis"),
    ("sns.rs", "sns"),
];

/// Methods called on an SDK `client` that are not API operations.
const NOT_OPERATIONS: &[&str] = &["config", "clone"];

/// Every operation of these clients the scan knows, with the IAM actions it
/// needs. An operation missing here fails the test with instructions, so a
/// new SDK call cannot slip past unreviewed. An empty slice means "derived"
/// (see `transact_write_items`).
const KNOWN_OPERATIONS: &[(&str, &str, &[&str])] = &[
    // SQS: IAM has no *Batch actions; a batch is authorised per entry by the
    // single-message action.
    ("sqs", "receive_message", &["sqs:ReceiveMessage"]),
    ("sqs", "send_message", &["sqs:SendMessage"]),
    ("sqs", "send_message_batch", &["sqs:SendMessage"]),
    ("sqs", "delete_message", &["sqs:DeleteMessage"]),
    ("sqs", "delete_message_batch", &["sqs:DeleteMessage"]),
    (
        "sqs",
        "change_message_visibility",
        &["sqs:ChangeMessageVisibility"],
    ),
    (
        "sqs",
        "change_message_visibility_batch",
        &["sqs:ChangeMessageVisibility"],
    ),
    ("sqs", "get_queue_attributes", &["sqs:GetQueueAttributes"]),
    ("sqs", "get_queue_url", &["sqs:GetQueueUrl"]),
    // DynamoDB.
    ("dynamodb", "get_item", &["dynamodb:GetItem"]),
    ("dynamodb", "put_item", &["dynamodb:PutItem"]),
    ("dynamodb", "update_item", &["dynamodb:UpdateItem"]),
    ("dynamodb", "delete_item", &["dynamodb:DeleteItem"]),
    ("dynamodb", "query", &["dynamodb:Query"]),
    ("dynamodb", "scan", &["dynamodb:Scan"]),
    ("dynamodb", "batch_get_item", &["dynamodb:BatchGetItem"]),
    ("dynamodb", "batch_write_item", &["dynamodb:BatchWriteItem"]),
    ("dynamodb", "describe_table", &["dynamodb:DescribeTable"]),
    // Authorised by the item actions inside the transaction: derived from the
    // Put/Update/Delete/ConditionCheck builders the file uses.
    ("dynamodb", "transact_write_items", &[]),
    ("dynamodb", "transact_get_items", &["dynamodb:GetItem"]),
    // Amazon Connect.
    (
        "connect",
        "start_outbound_voice_contact",
        &["connect:StartOutboundVoiceContact"],
    ),
    ("connect", "describe_contact", &["connect:DescribeContact"]),
    (
        "connect",
        "get_contact_attributes",
        &["connect:GetContactAttributes"],
    ),
    ("connect", "stop_contact", &["connect:StopContact"]),
    // "To use SearchableContactAttributes in a search request, the
    // GetContactAttributes action is required" (the API reference).
    (
        "connect",
        "search_contacts",
        &["connect:SearchContacts", "connect:GetContactAttributes"],
    ),
    (
        "connect",
        "update_contact_attributes",
        &["connect:UpdateContactAttributes"],
    ),
    // Kinesis.
    ("kinesis", "list_shards", &["kinesis:ListShards"]),
    (
        "kinesis",
        "get_shard_iterator",
        &["kinesis:GetShardIterator"],
    ),
    ("kinesis", "get_records", &["kinesis:GetRecords"]),
    ("kinesis", "describe_stream", &["kinesis:DescribeStream"]),
    (
        "kinesis",
        "describe_stream_summary",
        &["kinesis:DescribeStreamSummary"],
    ),
    ("kinesis", "list_streams", &["kinesis:ListStreams"]),
    // SNS.
    ("sns", "publish", &["sns:Publish"]),
    ("sns", "publish_batch", &["sns:Publish"]),
];

/// TransactWriteItem members and the IAM action each needs.
const TRANSACT_MEMBERS: &[(&str, &str)] = &[
    ("Put::builder", "dynamodb:PutItem"),
    ("Update::builder", "dynamodb:UpdateItem"),
    ("Delete::builder", "dynamodb:DeleteItem"),
    ("ConditionCheck::builder", "dynamodb:ConditionCheckItem"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text before the file's `#[cfg(test)]` module: unit tests may use the
/// clients in ways the daemon does not.
fn production_part(src: &str) -> &str {
    match src.find("#[cfg(test)]") {
        Some(i) => &src[..i],
        None => src,
    }
}

/// Methods called as `client.<name>()` (whitespace and newlines allowed
/// around the dot, as rustfmt splits builder chains), with their line.
fn client_calls(src: &str) -> Vec<(String, usize)> {
    let bytes = src.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(off) = src[from..].find("client") {
        let start = from + off;
        from = start + "client".len();
        // A whole identifier: `client`, not `sqs_client` or `clients`.
        let before_ok = start == 0 || !is_ident(bytes[start - 1]);
        let mut i = from;
        if !before_ok || (i < bytes.len() && is_ident(bytes[i])) {
            continue;
        }
        i = skip_ws(bytes, i);
        if bytes.get(i) != Some(&b'.') {
            continue;
        }
        i = skip_ws(bytes, i + 1);
        let name_start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if name_start == i {
            continue;
        }
        let name = &src[name_start..i];
        let j = skip_ws(bytes, i);
        if bytes.get(j) != Some(&b'(') {
            continue; // a field, e.g. `self.client.config` without a call
        }
        let line = src[..name_start].matches('\n').count() + 1;
        found.push((name.to_string(), line));
    }
    found
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// IAM action → where in the code it comes from.
fn actions_from_code() -> BTreeMap<String, Vec<String>> {
    let src_dir = repo_root().join("crates/ringdown-aws/src");
    let mut actions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    let files = SOURCES.iter().flat_map(|(entry, service)| {
        let path = src_dir.join(entry);
        let in_dir = path.is_dir();
        let mut files: Vec<PathBuf> = if in_dir {
            std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "rs"))
                .collect()
        } else {
            vec![path]
        };
        files.sort();
        files.into_iter().map(move |f| (f, *service, in_dir))
    });
    for (path, service, in_dir) in files {
        let file = path.strip_prefix(&src_dir).unwrap().display().to_string();
        let full = read(&path);
        let src = production_part(&full);
        let calls = client_calls(src);
        // A directory's files may hold no call each (codecs, schemas).
        assert!(
            in_dir || !calls.is_empty(),
            "{file}: no `client.<operation>()` call found; has the code changed shape? \
             update client_calls() in this test"
        );
        for (op, line) in calls {
            if NOT_OPERATIONS.contains(&op.as_str()) {
                continue;
            }
            let Some((_, _, iam)) = KNOWN_OPERATIONS
                .iter()
                .find(|(s, o, _)| *s == service && *o == op)
            else {
                unknown.push(format!(
                    "{file}:{line}: `{op}` on the {service} client is not in KNOWN_OPERATIONS \
                     of crates/ringdown-aws/tests/iam_policy.rs: add it with its IAM action(s) \
                     (see the service authorization reference), then grant them to TaskRole in \
                     infra/ringdown.yaml"
                ));
                continue;
            };
            let mut needed: Vec<String> = iam.iter().map(|a| a.to_string()).collect();
            if op == "transact_write_items" {
                needed = TRANSACT_MEMBERS
                    .iter()
                    .filter(|(builder, _)| src.contains(builder))
                    .map(|(_, a)| a.to_string())
                    .collect();
                assert!(
                    !needed.is_empty(),
                    "{file}:{line}: transact_write_items with no Put/Update/Delete/ConditionCheck builder found"
                );
            }
            for a in needed {
                actions
                    .entry(a)
                    .or_default()
                    .push(format!("{file}:{line} {op}()"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "unknown SDK operations:\n{}",
        unknown.join("\n")
    );
    actions
}

/// Looks through CloudFormation tags (`!Sub x` → x).
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn template() -> Value {
    let path = repo_root().join("infra/ringdown.yaml");
    serde_yaml::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn resource<'a>(tpl: &'a Value, logical_id: &str) -> &'a Value {
    let r = &tpl["Resources"][logical_id];
    assert!(
        untag(r).is_mapping(),
        "infra/ringdown.yaml: no resource {logical_id}"
    );
    r
}

fn strings(v: &Value) -> Vec<String> {
    match untag(v) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// IAM actions of the task role's inline policies, with the Sid granting each.
fn actions_from_template() -> BTreeMap<String, Vec<String>> {
    let tpl = template();
    let role = resource(&tpl, "TaskRole");
    assert_eq!(untag(&role["Type"]).as_str(), Some("AWS::IAM::Role"));
    let props = &role["Properties"];
    assert!(
        props.get("ManagedPolicyArns").is_none(),
        "TaskRole must not attach managed policies: they grant more than the daemon calls"
    );
    let policies = untag(&props["Policies"])
        .as_sequence()
        .expect("TaskRole.Properties.Policies is a list");
    let mut actions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for policy in policies {
        let statements = untag(&policy["PolicyDocument"]["Statement"])
            .as_sequence()
            .expect("PolicyDocument.Statement is a list");
        for st in statements {
            let sid = untag(&st["Sid"]).as_str().unwrap_or("(no Sid)").to_string();
            assert_eq!(
                untag(&st["Effect"]).as_str(),
                Some("Allow"),
                "statement {sid}: only Allow statements are expected in TaskRole"
            );
            assert!(
                st.get("NotAction").is_none() && st.get("NotResource").is_none(),
                "statement {sid}: NotAction/NotResource grant more than they say"
            );
            let resources = strings(&st["Resource"]);
            assert!(
                !resources.iter().any(|r| r == "*" || r.ends_with(":*")),
                "statement {sid}: Resource must name ringdown's own resources, found {resources:?}"
            );
            for a in strings(&st["Action"]) {
                assert!(!a.contains('*'), "statement {sid}: wildcard action {a}");
                actions.entry(a).or_default().push(sid.clone());
            }
        }
    }
    actions
}

#[test]
fn task_role_allows_exactly_the_sdk_calls_the_daemon_makes() {
    let code = actions_from_code();
    let granted = actions_from_template();
    let code_set: BTreeSet<&String> = code.keys().collect();
    let granted_set: BTreeSet<&String> = granted.keys().collect();
    let missing: Vec<String> = code_set
        .difference(&granted_set)
        .map(|a| format!("  {a} (called at {})", code[*a].join(", ")))
        .collect();
    let extra: Vec<String> = granted_set
        .difference(&code_set)
        .map(|a| format!("  {a} (statement {})", granted[*a].join(", ")))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "infra/ringdown.yaml TaskRole and the daemon's SDK calls differ.\n\
         missing from TaskRole (the daemon would get AccessDenied):\n{}\n\
         granted but never called (remove them):\n{}\n",
        if missing.is_empty() {
            "  none".into()
        } else {
            missing.join("\n")
        },
        if extra.is_empty() {
            "  none".into()
        } else {
            extra.join("\n")
        },
    );
    // The scan itself found what the daemon is known to do.
    for a in [
        "sqs:ReceiveMessage",
        "dynamodb:Query",
        "connect:StartOutboundVoiceContact",
        "kinesis:GetRecords",
        "sns:Publish",
    ] {
        assert!(code.contains_key(a), "the source scan missed {a}: {code:?}");
    }
}

#[test]
fn the_scanner_reads_builder_chains() {
    let src = "let out = self\n    .client\n    .receive_message()\n    .send();\n\
               self.client.put_item().send();\nlet c = sqs_client.get_item();\n\
               self.clients.publish();\nx.client\n.config()\n";
    let calls: Vec<String> = client_calls(src).into_iter().map(|(n, _)| n).collect();
    assert_eq!(calls, ["receive_message", "put_item", "config"]);
}

fn attr_type(kind: AttrKind) -> &'static str {
    match kind {
        AttrKind::S => "S",
        AttrKind::N => "N",
    }
}

/// `[(name, HASH|RANGE)]` of a KeySchema list.
fn key_schema(v: &Value) -> Vec<(String, String)> {
    untag(v)
        .as_sequence()
        .expect("KeySchema is a list")
        .iter()
        .map(|k| {
            (
                untag(&k["AttributeName"])
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                untag(&k["KeyType"])
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn expected_keys(hash: &KeyAttr, range: &Option<KeyAttr>) -> Vec<(String, String)> {
    let mut keys = vec![(hash.name.to_string(), "HASH".to_string())];
    if let Some(r) = range {
        keys.push((r.name.to_string(), "RANGE".to_string()));
    }
    keys
}

/// The template's `!Sub "${NamePrefix}x"` with the prefix filled in.
fn sub_name(v: &Value, prefix: &str) -> String {
    untag(v)
        .as_str()
        .unwrap_or_default()
        .replace("${NamePrefix}", prefix)
}

#[test]
fn tables_and_names_match_the_code() {
    let tpl = template();
    let prefix = "p-";
    let names = ResourceNames::from_prefix(prefix);
    let resources = untag(&tpl["Resources"]).as_mapping().expect("Resources");
    let of_type = |t: &str| -> Vec<(&str, &Value)> {
        resources
            .iter()
            .filter(|(_, r)| untag(&r["Type"]).as_str() == Some(t))
            .map(|(k, r)| (k.as_str().unwrap_or_default(), r))
            .collect()
    };

    let tables = of_type("AWS::DynamoDB::Table");
    let specs = table_specs(prefix);
    assert_eq!(
        tables.len(),
        specs.len(),
        "one template table per table_specs entry"
    );
    for spec in &specs {
        let (id, table) = tables
            .iter()
            .find(|(_, t)| sub_name(&t["Properties"]["TableName"], prefix) == spec.name)
            .unwrap_or_else(|| panic!("no table named {} in infra/ringdown.yaml", spec.name));
        let p = &table["Properties"];
        assert_eq!(
            untag(&p["BillingMode"]).as_str(),
            Some("PAY_PER_REQUEST"),
            "{id}"
        );
        assert_eq!(
            key_schema(&p["KeySchema"]),
            expected_keys(&spec.hash_key, &spec.range_key),
            "{id} KeySchema"
        );

        let mut want_attrs = BTreeMap::new();
        let mut add = |k: &KeyAttr| {
            want_attrs.insert(k.name.to_string(), attr_type(k.kind).to_string());
        };
        add(&spec.hash_key);
        spec.range_key.iter().for_each(&mut add);
        for ix in &spec.indexes {
            add(&ix.hash_key);
            ix.range_key.iter().for_each(&mut add);
        }
        let have_attrs: BTreeMap<String, String> = untag(&p["AttributeDefinitions"])
            .as_sequence()
            .expect("AttributeDefinitions")
            .iter()
            .map(|a| {
                (
                    untag(&a["AttributeName"])
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    untag(&a["AttributeType"])
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(have_attrs, want_attrs, "{id} AttributeDefinitions");

        let gsis: Vec<&Value> = p
            .get("GlobalSecondaryIndexes")
            .and_then(|g| untag(g).as_sequence())
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        assert_eq!(
            gsis.len(),
            spec.indexes.len(),
            "{id} GlobalSecondaryIndexes"
        );
        for ix in &spec.indexes {
            let g = gsis
                .iter()
                .find(|g| untag(&g["IndexName"]).as_str() == Some(ix.name))
                .unwrap_or_else(|| panic!("{id}: no index {}", ix.name));
            assert_eq!(
                key_schema(&g["KeySchema"]),
                expected_keys(&ix.hash_key, &ix.range_key),
                "{id} index {}",
                ix.name
            );
            let projection = match ix.projection {
                Projection::KeysOnly => "KEYS_ONLY",
                Projection::All => "ALL",
            };
            assert_eq!(
                untag(&g["Projection"]["ProjectionType"]).as_str(),
                Some(projection),
                "{id} index {}",
                ix.name
            );
        }

        let ttl = p.get("TimeToLiveSpecification").map(|t| {
            untag(&t["AttributeName"])
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        assert_eq!(
            ttl.as_deref(),
            spec.ttl_attribute,
            "{id} TimeToLiveSpecification"
        );
    }

    let named = |t: &str, key: &str| -> BTreeSet<String> {
        of_type(t)
            .iter()
            .map(|(_, r)| sub_name(&r["Properties"][key], prefix))
            .collect()
    };
    let queues = named("AWS::SQS::Queue", "QueueName");
    assert!(
        queues.contains(&names.alert_queue)
            && queues.contains(&names.alert_dlq)
            && queues.contains(&names.contact_events_queue),
        "{queues:?}"
    );
    let rules = named("AWS::Events::Rule", "Name");
    assert!(rules.contains(&names.contact_events_rule), "{rules:?}");
    let topics = named("AWS::SNS::Topic", "TopicName");
    assert!(
        topics.contains(&names.alert_topic) && topics.contains(&names.fallback_topic),
        "{topics:?}"
    );
    let streams = named("AWS::Kinesis::Stream", "Name");
    assert!(streams.contains(&names.ctr_stream), "{streams:?}");
}
