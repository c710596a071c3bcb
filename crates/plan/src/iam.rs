//! Whether a role's identity policies let it make one call on one resource: enough to tell that
//! the execution role plainly cannot read the delegate token before ECS reports tasks stopping
//! with ResourceInitializationError. Deliberately partial, and never a reason to refuse a
//! write: a statement with a `Condition` counts as allowing (it cannot be judged here), and a
//! secret's resource policy, permission boundaries and SCPs are not seen; a finding is reported,
//! not enforced.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>

use serde_json::Value;

/// The outcome for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An Allow statement matches and no Deny does.
    Allowed,
    /// A Deny statement without conditions matches.
    Denied,
    /// No statement allows it (IAM's implicit deny).
    NotAllowed,
}

/// The call ECS makes with the execution role to read a token stored at `arn`.
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html>
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html>
pub fn secret_read_action(arn: &str) -> &'static str {
    if arn.split(':').nth(2) == Some("ssm") {
        "ssm:GetParameters"
    } else {
        "secretsmanager:GetSecretValue"
    }
}

/// Evaluates `action` on `resource` against policy documents (JSON, as IAM returns them once
/// URL-decoded). A Secrets Manager ARN written without its random six-character suffix also
/// matches patterns written for the full ARN (`...:secret:name-*`).
pub fn evaluate(documents: &[String], action: &str, resource: &str) -> Access {
    let mut resources = vec![resource.to_owned()];
    if resource.contains(":secretsmanager:") && !has_random_suffix(resource) {
        resources.push(format!("{resource}-AbCdEf"));
    }
    let mut allowed = false;
    for document in documents {
        for statement in &statements(document) {
            if !matches_action(statement, action)
                || !resources.iter().any(|r| matches_resource(statement, r))
            {
                continue;
            }
            let conditional = statement.get("Condition").is_some();
            match statement["Effect"].as_str() {
                Some("Deny") if !conditional => return Access::Denied,
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    if allowed {
        Access::Allowed
    } else {
        Access::NotAllowed
    }
}

/// The services a trust policy (JSON, as IAM returns it once URL-decoded) lets assume the
/// role: the `Principal.Service` of each Allow statement whose actions include
/// `sts:AssumeRole`.
pub fn trusted_services(document: &str) -> Vec<String> {
    let mut services: Vec<String> = statements(document)
        .iter()
        .filter(|s| s["Effect"] == "Allow" && matches_action(s, "sts:AssumeRole"))
        .flat_map(|s| strings(&s["Principal"]["Service"]))
        .map(str::to_owned)
        .collect();
    services.sort();
    services.dedup();
    services
}

/// The Sids of a policy's Allow statements whose actions include `action`.
pub fn granting_statements(document: &str, action: &str) -> Vec<String> {
    statements(document)
        .iter()
        .filter(|s| s["Effect"] == "Allow" && matches_action(s, action))
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect()
}

/// The statements of a policy document: the one place policy JSON is read. A document that is
/// not JSON has none.
fn statements(document: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(document) {
        Ok(mut policy) => match policy["Statement"].take() {
            Value::Array(list) => list,
            Value::Null => Vec::new(),
            one => vec![one],
        },
        Err(_) => Vec::new(),
    }
}

fn has_random_suffix(arn: &str) -> bool {
    arn.rsplit_once('-')
        .is_some_and(|(_, s)| s.len() == 6 && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(list) => list.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn strings(value: &Value) -> Vec<&str> {
    one_or_many(value)
        .into_iter()
        .filter_map(Value::as_str)
        .collect()
}

fn matches_action(statement: &Value, action: &str) -> bool {
    let action = action.to_ascii_lowercase();
    let hit = |patterns: Vec<&str>| {
        patterns
            .iter()
            .any(|p| glob(&p.to_ascii_lowercase(), &action))
    };
    match (statement.get("Action"), statement.get("NotAction")) {
        (Some(list), _) => hit(strings(list)),
        (None, Some(list)) => !hit(strings(list)),
        (None, None) => false,
    }
}

fn matches_resource(statement: &Value, resource: &str) -> bool {
    match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(list), _) => strings(list).iter().any(|p| glob(p, resource)),
        (None, Some(list)) => !strings(list).iter().any(|p| glob(p, resource)),
        (None, None) => false,
    }
}

/// IAM's wildcards: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:delegate-token";

    fn doc(statements: &str) -> Vec<String> {
        vec![format!(
            r#"{{"Version":"2012-10-17","Statement":{statements}}}"#
        )]
    }

    #[test]
    fn allows_denies_and_wildcards() {
        let action = "secretsmanager:GetSecretValue";
        assert_eq!(evaluate(&[], action, SECRET), Access::NotAllowed);
        let allow = doc(
            r#"{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:delegate-token-*"}"#,
        );
        assert_eq!(evaluate(&allow, action, SECRET), Access::Allowed);
        let star = doc(r#"[{"Effect":"Allow","Action":["secretsmanager:Get*"],"Resource":"*"}]"#);
        assert_eq!(evaluate(&star, action, SECRET), Access::Allowed);
        let other = doc(
            r#"{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:other-*"}"#,
        );
        assert_eq!(evaluate(&other, action, SECRET), Access::NotAllowed);
        let ecr = doc(
            r#"{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","logs:PutLogEvents"],"Resource":"*"}"#,
        );
        assert_eq!(evaluate(&ecr, action, SECRET), Access::NotAllowed);
        let mut denied = star.clone();
        denied.extend(doc(
            r#"{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*"}"#,
        ));
        assert_eq!(evaluate(&denied, action, SECRET), Access::Denied);
        let conditional = doc(
            r#"{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"x"}}}"#,
        );
        assert_eq!(evaluate(&conditional, action, SECRET), Access::Allowed);
        let not_action = doc(r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#);
        assert_eq!(evaluate(&not_action, action, SECRET), Access::Allowed);
    }

    #[test]
    fn the_read_action_follows_the_store() {
        assert_eq!(secret_read_action(SECRET), "secretsmanager:GetSecretValue");
        assert_eq!(
            secret_read_action("arn:aws:ssm:us-east-1:123456789012:parameter/harness/token"),
            "ssm:GetParameters"
        );
        assert!(glob("a*b?d", "axxbcd") && !glob("a*b?d", "axxbd") && glob("*", ""));
    }
}
