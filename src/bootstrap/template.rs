//! `@NAME@` placeholders in the files under `templates/`, filled in one pass.
//!
//! Autoconf-style markers, not `{{ }}`, because the shell templates hold Go templates of
//! their own (`docker plugin inspect --format '{{.Enabled}}'`). Every placeholder must get a
//! value and every value must be used, so a typo fails a test instead of shipping.

/// A template that does not fit the values given to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template {template}: no value for placeholder @{name}@")]
    Unfilled {
        template: &'static str,
        name: String,
    },
    #[error("template {template}: value {name} is not used by any placeholder")]
    Unused {
        template: &'static str,
        name: String,
    },
}

/// A template file compiled into the binary, with its path for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub path: &'static str,
    pub text: &'static str,
}

/// Embeds `templates/<path>` and remembers where it came from.
macro_rules! template {
    ($path:literal) => {
        $crate::bootstrap::template::Template {
            path: concat!("templates/", $path),
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path)),
        }
    };
}
pub(crate) use template;

impl Template {
    /// Replaces each `@NAME@` with its value; values are inserted verbatim, never rescanned.
    pub fn render(&self, values: &[(&str, &str)]) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.text.len());
        let mut used = vec![false; values.len()];
        let mut rest = self.text;
        while let Some((before, name, after)) = next_placeholder(rest) {
            let index = values
                .iter()
                .position(|(key, _)| *key == name)
                .ok_or_else(|| TemplateError::Unfilled {
                    template: self.path,
                    name: name.to_owned(),
                })?;
            used[index] = true;
            out.push_str(before);
            out.push_str(values[index].1);
            rest = after;
        }
        out.push_str(rest);
        match used.iter().position(|was_used| !was_used) {
            Some(index) => Err(TemplateError::Unused {
                template: self.path,
                name: values[index].0.to_owned(),
            }),
            None => Ok(out),
        }
    }
}

/// Splits at the first `@NAME@` (NAME: capitals, digits, `_`): text before, NAME, text after.
fn next_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let mut search_from = 0;
    while let Some(offset) = text[search_from..].find('@') {
        let start = search_from + offset;
        let tail = &text[start + 1..];
        let name_len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if name_len > 0 && tail[name_len..].starts_with('@') {
            let name = &tail[..name_len];
            return Some((&text[..start], name, &tail[name_len + 1..]));
        }
        search_from = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(text: &'static str) -> Template {
        Template {
            path: "inline",
            text,
        }
    }

    #[test]
    fn fills_every_placeholder_once_without_rescanning_values() {
        let rendered = inline("a=@A@ b=@B_2@ again=@A@")
            .render(&[("A", "@B_2@"), ("B_2", "two")])
            .unwrap();
        assert_eq!(rendered, "a=@B_2@ b=two again=@B_2@");
    }

    #[test]
    fn leaves_lone_at_signs_and_lowercase_alone() {
        let text = "mail me@example.com, @lower@, @@, '{{.Enabled}}'";
        assert_eq!(inline(text).render(&[]).unwrap(), text);
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error() {
        let err = inline("x @MISSING@").render(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template inline: no value for placeholder @MISSING@"
        );
    }

    #[test]
    fn a_value_nobody_asked_for_is_an_error() {
        let err = inline("x").render(&[("EXTRA", "1")]).unwrap_err();
        assert!(matches!(err, TemplateError::Unused { name, .. } if name == "EXTRA"));
    }
}
