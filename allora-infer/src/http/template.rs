//! URL templates with the placeholders the official off-chain node uses:
//! `{Token}`, `{TopicId}` and `{BlockHeight}`.

use crate::error::InferError;
use crate::request::InferenceRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Token,
    TopicId,
    BlockHeight,
}

/// A parsed URL template; parsing up front means a typo is reported when the
/// provider is built, not at the first epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlTemplate {
    parts: Vec<Part>,
}

impl UrlTemplate {
    pub(crate) fn parse(template: &str) -> Result<Self, InferError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                InferError::Config(format!("URL template {template:?} has an unclosed '{{'"))
            })?;
            parts.push(match &after[..close] {
                "Token" => Part::Token,
                "TopicId" => Part::TopicId,
                "BlockHeight" => Part::BlockHeight,
                other => {
                    return Err(InferError::Config(format!(
                        "URL template {template:?} has an unknown placeholder {{{other}}}; use {{Token}}, {{TopicId}} or {{BlockHeight}}"
                    )))
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let parsed = UrlTemplate { parts };
        // A sample rendering catches a missing scheme or a malformed host now.
        let sample = parsed.fill("TOKEN", 1, 1);
        match reqwest::Url::parse(&sample) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(parsed),
            Ok(url) => Err(InferError::Config(format!(
                "URL template {template:?} has scheme {:?}; use http or https",
                url.scheme()
            ))),
            Err(e) => Err(InferError::Config(format!(
                "URL template {template:?} is not a valid URL: {e}"
            ))),
        }
    }

    pub(crate) fn needs_token(&self) -> bool {
        self.parts.contains(&Part::Token)
    }

    /// The URL for a request; the token is percent-encoded so that a label
    /// with `/` or spaces cannot change the path.
    pub(crate) fn render(&self, req: &InferenceRequest, token: Option<&str>) -> String {
        self.fill(
            &percent_encode(token.unwrap_or_default()),
            req.topic_id,
            req.nonce,
        )
    }

    fn fill(&self, token: &str, topic_id: u64, height: i64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Token => out.push_str(token),
                Part::TopicId => out.push_str(&topic_id.to_string()),
                Part::BlockHeight => out.push_str(&height.to_string()),
            }
        }
        out
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    #[tokio::test]
    async fn fills_every_placeholder() {
        let t = UrlTemplate::parse("http://h:8000/inference/{TopicId}/{Token}?h={BlockHeight}")
            .unwrap();
        let req = InferenceRequest::new(13, 4567, Instant::now() + Duration::from_secs(1));
        assert_eq!(
            t.render(&req, Some("ETH/USD x")),
            "http://h:8000/inference/13/ETH%2FUSD%20x?h=4567"
        );
        assert!(t.needs_token());
        assert!(!UrlTemplate::parse("http://h/x/{TopicId}")
            .unwrap()
            .needs_token());
    }

    #[test]
    fn rejects_bad_templates_up_front() {
        for bad in [
            "http://h/{token}",
            "http://h/{Token",
            "inference/{Token}",
            "ftp://h/{Token}",
        ] {
            assert!(
                matches!(UrlTemplate::parse(bad), Err(InferError::Config(_))),
                "{bad}"
            );
        }
    }
}
