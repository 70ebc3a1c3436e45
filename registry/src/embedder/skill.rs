//! The texts that represent a skill in the capability index.
//!
//! Why this shape is documented at the module root ([`super`], "What text
//! represents a skill").

use switchyard_schemas::manifest::Skill;

/// The primary text of a skill: `"name: description (tag, tag)"`.
///
/// The name leads because it is the most condensed statement of the skill;
/// the description adds the detail; tags go last, in parentheses, as the
/// lowest-weight context. An empty name falls back to the skill id, and empty
/// parts are left out, so the text is never empty for a valid skill.
pub fn skill_text(skill: &Skill) -> String {
    let head = match skill.name.trim() {
        "" => skill.id.trim(),
        name => name,
    };
    let mut text = humanize_identifier(head);
    let description = skill.description.trim();
    if !description.is_empty() {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(description);
    }
    let tags: Vec<&str> = skill
        .tags
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    if !tags.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push('(');
        text.push_str(&tags.join(", "));
        text.push(')');
    }
    text
}

/// Splits a name written as one identifier (`ChatOCR`, `create_qr_code`,
/// `web-search`) into words (`Chat OCR`, `create qr code`, `web search`);
/// a name that already has spaces is left alone.
///
/// Tool and skill names are often identifiers, and the model's WordPiece
/// vocabulary knows the words, not their concatenation: measured on the
/// routing benchmark (docs/benchmarks.md).
pub fn humanize_identifier(name: &str) -> String {
    if name.contains(char::is_whitespace) {
        return name.to_owned();
    }
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, '_' | '-' | '.') {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            continue;
        }
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            // `OCRScanner` splits before `S`, but `PDFs` is one plural word.
            let plural =
                chars.get(i + 1) == Some(&'s') && !chars.get(i + 2).is_some_and(|n| n.is_alphabetic());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase()) && !plural;
            if (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower))
                && !out.ends_with(' ')
            {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

/// The texts to embed for a skill, primary first (see [`skill_text`]), then
/// one per distinct non-empty example, in manifest order.
///
/// Each text becomes one vector of the skill; the router scores a skill by its
/// best-matching vector.
pub fn skill_texts(skill: &Skill) -> Vec<String> {
    let mut texts = vec![skill_text(skill)];
    for example in &skill.examples {
        let example = example.trim();
        if !example.is_empty() && !texts.iter().any(|t| t == example) {
            texts.push(example.to_owned());
        }
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(name: &str, description: &str, tags: &[&str], examples: &[&str]) -> Skill {
        Skill {
            id: "translate".to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            examples: examples.iter().map(|s| (*s).to_owned()).collect(),
            input_modes: vec![],
            output_modes: vec![],
            vector: None,
        }
    }

    #[test]
    fn primary_text_combines_name_description_and_tags() {
        let s = skill("Translate", " Translates text. ", &["nlp", " i18n "], &[]);
        assert_eq!(skill_text(&s), "Translate: Translates text. (nlp, i18n)");
    }

    #[test]
    fn identifiers_become_words() {
        for (name, words) in [
            ("ChatOCR", "Chat OCR"),
            ("OCRScanner", "OCR Scanner"),
            ("create_qr_code", "create qr code"),
            (
                "MixerBox_Translate_AI_language_tutor",
                "Mixer Box Translate AI language tutor",
            ),
            ("web-search", "web search"),
            ("PDFs", "PDFs"),
            ("timeport", "timeport"),
            ("Write SQL", "Write SQL"),
        ] {
            assert_eq!(humanize_identifier(name), words, "{name}");
        }
    }

    #[test]
    fn empty_parts_are_left_out() {
        assert_eq!(skill_text(&skill("Translate", "", &[], &[])), "Translate");
        assert_eq!(
            skill_text(&skill("Translate", "  ", &["", "nlp"], &[])),
            "Translate (nlp)"
        );
        assert_eq!(
            skill_text(&skill(" ", "Translates text.", &[], &[])),
            "translate: Translates text."
        );
    }

    #[test]
    fn examples_follow_the_primary_text_deduplicated() {
        let s = skill(
            "Translate",
            "Translates text.",
            &[],
            &[
                "Say hello in French",
                " ",
                "Say hello in French",
                "Translate: Translates text.",
            ],
        );
        assert_eq!(
            skill_texts(&s),
            vec![
                "Translate: Translates text.".to_owned(),
                "Say hello in French".to_owned()
            ]
        );
    }
}
