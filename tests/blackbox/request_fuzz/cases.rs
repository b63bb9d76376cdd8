//! Requests generated from the API model: valid bodies at the members' limits, each constraint
//! broken in turn, wrong JSON types, missing required members, huge and deeply nested bodies,
//! broken envelope and authentication headers, and bodies sent slowly or cut off.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyshard_gateway::fuzzing::MODEL;
use serde_json::{Map, Value, json};

use crate::raw_http::{Pace, RawRequest};

/// Bodies larger than the gateway's cap, and the depth of nested arrays.
const HUGE_BYTES: usize = 1024 * 1024 + 512;
const NESTING: usize = 20_000;
/// Strings and blobs longer than this are not generated at a member's maximum.
const LONGEST_VALUE: usize = 300_000;

/// One request to send, and what kind of input it is.
pub(crate) struct Case {
    pub(crate) operation: String,
    pub(crate) kind: &'static str,
    pub(crate) request: RawRequest,
    pub(crate) pace: Pace,
}

/// Things that exist in the service under test, so that valid requests can succeed.
pub(crate) struct Fixtures {
    pub(crate) key_id: String,
    pub(crate) key_arn: String,
    pub(crate) ciphertext: String,
}

/// The model's operations and shapes.
pub(crate) struct Model {
    shapes: Map<String, Value>,
    /// Operation name and input shape, in the model's order.
    operations: Vec<(String, String)>,
}

#[derive(Clone, Copy)]
enum Bound {
    Min,
    Max,
    Typical,
}

impl Model {
    pub(crate) fn load() -> Self {
        let model: Value = serde_json::from_str(MODEL).expect("the API model is JSON");
        let shapes = model["shapes"].as_object().expect("shapes").clone();
        let operations = model["operations"]
            .as_object()
            .expect("operations")
            .iter()
            .map(|(name, op)| {
                let input = op["input"]["shape"].as_str().unwrap_or_default();
                (name.clone(), input.to_owned())
            })
            .collect();
        Self { shapes, operations }
    }

    /// Requests that take each operation through every mutation once per member: valid at the
    /// minimum and maximum, each constraint broken, each member of the wrong type, each
    /// required member left out.
    pub(crate) fn systematic(&self, fixtures: &Fixtures) -> Vec<Case> {
        let mut rng = Rng(7);
        let mut cases = Vec::new();
        for (operation, input) in &self.operations {
            let case =
                |kind, body: Value| body_case(operation, kind, body.to_string().into_bytes());
            for bound in [Bound::Min, Bound::Max, Bound::Typical] {
                cases.push(case(
                    "valid",
                    self.object(input, bound, fixtures, &mut rng, 0),
                ));
            }
            for (member, target) in self.members(input) {
                let base = self.object(input, Bound::Typical, fixtures, &mut rng, 0);
                for broken in self.violations(&target, &mut rng) {
                    cases.push(case("constraint", with_member(&base, &member, broken)));
                }
                cases.push(case(
                    "wrong type",
                    with_member(&base, &member, wrong_type(self.shape(&target))),
                ));
            }
            for member in self.required(input) {
                let mut body = self.object(input, Bound::Typical, fixtures, &mut rng, 0);
                if let Value::Object(map) = &mut body {
                    map.remove(&member);
                }
                cases.push(case("missing required", body));
            }
        }
        cases
    }

    /// The `n`th random request: an operation and a mutation picked by a generator seeded with
    /// `n`.
    pub(crate) fn random(&self, n: u64, fixtures: &Fixtures) -> Case {
        let mut rng = Rng(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
        let (operation, input) = &self.operations[rng.below(self.operations.len())];
        let members = self.members(input);
        let body = |rng: &mut Rng| self.object(input, Bound::Typical, fixtures, rng, 0);
        let case = |kind, body: Value| body_case(operation, kind, body.to_string().into_bytes());
        match rng.below(100) {
            0..30 => {
                let bound = [Bound::Min, Bound::Max, Bound::Typical][rng.below(3)];
                case("valid", self.object(input, bound, fixtures, &mut rng, 0))
            }
            30..55 if !members.is_empty() => {
                let (member, target) = &members[rng.below(members.len())];
                let mut broken = self.violations(target, &mut rng);
                let base = body(&mut rng);
                match broken.len() {
                    0 => case("valid", base),
                    len => case(
                        "constraint",
                        with_member(&base, member, broken.swap_remove(rng.below(len))),
                    ),
                }
            }
            55..65 if !members.is_empty() => {
                let (member, target) = &members[rng.below(members.len())];
                let base = body(&mut rng);
                case(
                    "wrong type",
                    with_member(&base, member, wrong_type(self.shape(target))),
                )
            }
            65..75 => {
                let mut base = body(&mut rng);
                let required = self.required(input);
                if let (Value::Object(map), false) = (&mut base, required.is_empty()) {
                    map.remove(&required[rng.below(required.len())]);
                }
                case("missing required", base)
            }
            75..79 => {
                let member = members.first().map_or("Filler", |(m, _)| m.as_str());
                let huge = if rng.below(2) == 0 {
                    json!({ member: "a".repeat(HUGE_BYTES) })
                } else {
                    json!({ member: vec!["ab"; HUGE_BYTES / 5] })
                };
                case("huge", huge)
            }
            79..83 => {
                let member = members.first().map_or("Filler", |(m, _)| m.as_str());
                let depth = 1 + rng.below(NESTING);
                let text = format!(
                    "{{\"{member}\":{}1{}}}",
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                body_case(operation, "deeply nested", text.into_bytes())
            }
            83..88 => {
                let garbage: Vec<u8> = match rng.below(4) {
                    0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
                    1 => b"[1,2,3]".to_vec(),
                    2 => b"\"just a string\"".to_vec(),
                    _ => {
                        let mut text = body(&mut rng).to_string().into_bytes();
                        text.truncate(rng.below(text.len().max(1)));
                        text
                    }
                };
                body_case(operation, "not an object", garbage)
            }
            88..96 => header_case(operation, body(&mut rng), &mut rng),
            96..99 => {
                let mut slow = case("slow client", body(&mut rng));
                slow.pace = Pace::Slowly {
                    chunks: 2 + rng.below(6),
                    pause: Duration::from_millis(20 + rng.below(150) as u64),
                };
                slow
            }
            _ => {
                let mut cut = case("closed mid-body", body(&mut rng));
                let len = cut.request.body.len();
                cut.pace = Pace::CloseAfter(rng.below(len.max(1)));
                cut
            }
        }
    }

    fn shape(&self, name: &str) -> &Value {
        &self.shapes[name]
    }

    /// A structure's members and the shape each targets.
    fn members(&self, structure: &str) -> Vec<(String, String)> {
        let Some(members) = self.shape(structure)["members"].as_object() else {
            return Vec::new();
        };
        members
            .iter()
            .map(|(name, m)| {
                (
                    name.clone(),
                    m["shape"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn required(&self, structure: &str) -> Vec<String> {
        self.shape(structure)["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    }

    /// A structure with every required member and about half the optional ones.
    fn object(
        &self,
        structure: &str,
        bound: Bound,
        fixtures: &Fixtures,
        rng: &mut Rng,
        depth: usize,
    ) -> Value {
        let required = self.required(structure);
        let mut map = Map::new();
        for (member, target) in self.members(structure) {
            if required.contains(&member) || (depth < 3 && rng.below(2) == 0) {
                map.insert(
                    member.clone(),
                    self.value(&member, &target, bound, fixtures, rng, depth),
                );
            }
        }
        Value::Object(map)
    }

    /// A value of `shape` within its constraints, at `bound`; members naming keys, ciphertexts,
    /// aliases and principals get values that exist or are well formed.
    fn value(
        &self,
        member: &str,
        shape_name: &str,
        bound: Bound,
        fixtures: &Fixtures,
        rng: &mut Rng,
        depth: usize,
    ) -> Value {
        if matches!(bound, Bound::Typical) {
            let known = match member {
                "KeyId" | "TargetKeyId" | "DestinationKeyId" | "SourceKeyId" => Some(
                    [&fixtures.key_id, &fixtures.key_arn, "alias/fuzz"][rng.below(3)].to_owned(),
                ),
                "CiphertextBlob" => Some(fixtures.ciphertext.clone()),
                "AliasName" => Some(format!("alias/fuzz-{}", rng.below(50))),
                "GranteePrincipal" | "RetiringPrincipal" => {
                    Some("arn:aws:iam::111122223333:role/fuzz".to_owned())
                }
                _ => None,
            };
            if let Some(known) = known {
                return Value::String(known);
            }
        }
        let shape = self.shape(shape_name);
        let (min, max) = limits(shape);
        match shape["type"].as_str().unwrap_or_default() {
            "string" => {
                if let Some(values) = shape["enum"].as_array() {
                    let i = match bound {
                        Bound::Min => 0,
                        Bound::Max => values.len() - 1,
                        Bound::Typical => rng.below(values.len()),
                    };
                    return values[i].clone();
                }
                let len = pick_len(min, max, bound, rng);
                Value::String(string_of(shape_name, len))
            }
            "blob" => {
                let len = pick_len(min.max(1), max, bound, rng);
                Value::String(
                    STANDARD.encode((0..len).map(|_| rng.next() as u8).collect::<Vec<_>>()),
                )
            }
            "integer" | "long" => {
                let (lo, hi) = (
                    shape["min"].as_i64().unwrap_or(0),
                    shape["max"].as_i64().unwrap_or(i64::from(i32::MAX)),
                );
                json!(match bound {
                    Bound::Min => lo,
                    Bound::Max => hi,
                    Bound::Typical => lo + (rng.next() % (hi - lo + 1) as u64) as i64,
                })
            }
            "boolean" => json!(rng.below(2) == 0),
            "timestamp" => json!(1_767_225_600),
            "list" => {
                let len = pick_len(min, max.min(8), bound, rng);
                let member_shape = shape["member"]["shape"].as_str().unwrap_or_default();
                Value::Array(
                    (0..len)
                        .map(|_| self.value("", member_shape, bound, fixtures, rng, depth + 1))
                        .collect(),
                )
            }
            "map" => {
                let key = shape["key"]["shape"].as_str().unwrap_or_default();
                let value = shape["value"]["shape"].as_str().unwrap_or_default();
                let mut map = Map::new();
                for _ in 0..rng.below(4) {
                    let k = self.value("", key, Bound::Typical, fixtures, rng, depth + 1);
                    let v = self.value("", value, bound, fixtures, rng, depth + 1);
                    map.insert(k.as_str().unwrap_or("k").to_owned(), v);
                }
                Value::Object(map)
            }
            "structure" => self.object(shape_name, bound, fixtures, rng, depth + 1),
            _ => Value::Null,
        }
    }

    /// Values of `shape_name` that break one of its constraints each: length, range, pattern,
    /// enum, list size, and a nested structure missing a required member.
    fn violations(&self, shape_name: &str, rng: &mut Rng) -> Vec<Value> {
        let shape = self.shape(shape_name);
        let (min, max) = limits(shape);
        let mut out = Vec::new();
        match shape["type"].as_str().unwrap_or_default() {
            "string" => {
                if min > 0 {
                    out.push(Value::String(string_of(shape_name, min - 1)));
                }
                if max < LONGEST_VALUE {
                    out.push(Value::String(string_of(shape_name, max + 1)));
                }
                if shape.get("enum").is_some() {
                    out.push(json!("NOT_A_MODELED_VALUE"));
                }
                if shape.get("pattern").is_some() {
                    out.push(Value::String("\u{1}".repeat(min.max(1))));
                }
            }
            "blob" => {
                if min > 0 {
                    out.push(json!(""));
                }
                if max < LONGEST_VALUE {
                    out.push(Value::String(STANDARD.encode(vec![7u8; max + 1])));
                }
            }
            "integer" | "long" => {
                if let Some(lo) = shape["min"].as_i64() {
                    out.push(json!(lo - 1));
                }
                if let Some(hi) = shape["max"].as_i64() {
                    out.push(json!(hi + 1));
                }
                out.push(json!(1e30));
            }
            "list" => {
                let member = shape["member"]["shape"].as_str().unwrap_or_default();
                let item = wrong_type(self.shape(member));
                if max < 10_000 {
                    out.push(Value::Array(vec![json!("x"); max + 1]));
                }
                out.push(Value::Array(vec![item]));
            }
            "structure" => {
                let required = self.required(shape_name);
                if !required.is_empty() {
                    out.push(json!({}));
                }
            }
            _ => {}
        }
        if rng.below(2) == 0 {
            out.push(Value::Null);
        }
        out
    }
}

/// A small deterministic generator (SplitMix64), so a failing case can be found again by its
/// number.
pub(crate) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn limits(shape: &Value) -> (usize, usize) {
    let get = |k: &str| {
        shape[k]
            .as_u64()
            .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
    };
    (get("min").unwrap_or(0), get("max").unwrap_or(64))
}

fn pick_len(min: usize, max: usize, bound: Bound, rng: &mut Rng) -> usize {
    let max = max.clamp(min, LONGEST_VALUE);
    match bound {
        Bound::Min => min,
        Bound::Max => max,
        Bound::Typical => min + rng.below(max.min(min + 64) - min + 1),
    }
}

/// A string of `len` characters that matches the shape's pattern where a fixed alphabet can.
fn string_of(shape_name: &str, len: usize) -> String {
    match shape_name {
        "AccountIdType" => "1".repeat(len),
        "AliasNameType" if len > 6 => format!("alias/{}", "a".repeat(len - 6)),
        _ => "a".repeat(len),
    }
}

fn wrong_type(shape: &Value) -> Value {
    match shape["type"].as_str().unwrap_or_default() {
        "string" => json!(12345),
        "blob" => json!("%%% not base64 %%%"),
        "integer" | "long" => json!("12"),
        "boolean" => json!("true"),
        "list" => json!({ "a": 1 }),
        "map" => json!([1, 2]),
        "structure" => json!([]),
        _ => json!({}),
    }
}

fn with_member(base: &Value, member: &str, value: Value) -> Value {
    let mut body = base.clone();
    if let Value::Object(map) = &mut body {
        map.insert(member.to_owned(), value);
    }
    body
}

fn body_case(operation: &str, kind: &'static str, body: Vec<u8>) -> Case {
    Case {
        operation: operation.to_owned(),
        kind,
        request: RawRequest::new(operation, body),
        pace: Pace::AtOnce,
    }
}

/// A request for `operation` with one envelope or authentication header broken.
fn header_case(operation: &str, body: Value, rng: &mut Rng) -> Case {
    let request = RawRequest::new(operation, body.to_string());
    let request = match rng.below(11) {
        0 => request.without("X-Amz-Target"),
        1 => request.with("X-Amz-Target", "TrentService.NoSuchOperation"),
        2 => request.with("X-Amz-Target", &format!("OtherService.{operation}")),
        3 => request.with("Content-Type", "text/plain"),
        4 => request.without("Content-Type"),
        5 => request.without("Authorization"),
        6 => request.with("Authorization", "Bearer abc"),
        7 => request.with(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request",
        ),
        8 => request.without("X-Amz-Date"),
        9 => request.with("X-Amz-Date", "yesterday"),
        _ => request.with(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=, Signature=zz",
        ),
    };
    Case {
        operation: operation.to_owned(),
        kind: "bad header",
        request,
        pace: Pace::AtOnce,
    }
}

/// Counts of answers by status and `__type`, and by kind of input.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) by_answer: HashMap<(String, String), u64>,
    pub(crate) by_kind: HashMap<&'static str, u64>,
    pub(crate) failures: Vec<String>,
}

impl Tally {
    pub(crate) fn merge(&mut self, other: Self) {
        for (k, v) in other.by_answer {
            *self.by_answer.entry(k).or_default() += v;
        }
        for (k, v) in other.by_kind {
            *self.by_kind.entry(k).or_default() += v;
        }
        self.failures.extend(other.failures);
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// The counts as a Markdown table, most frequent first.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<_> = self.by_answer.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut out = String::from("| status | __type | count |\n|---|---|---|\n");
        for ((status, error_type), count) in rows {
            out.push_str(&format!("| {status} | {error_type} | {count} |\n"));
        }
        let mut kinds: Vec<_> = self.by_kind.iter().collect();
        kinds.sort();
        out.push_str("\n| input | count |\n|---|---|\n");
        for (kind, count) in kinds {
            out.push_str(&format!("| {kind} | {count} |\n"));
        }
        out.push_str(&format!(
            "\ntotal {} requests, {} failures\n",
            self.total(),
            self.failures.len()
        ));
        out
    }
}
