//! Escaping text for HTML, and `data:` URLs.

use base64::Engine;

/// `text` safe inside an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A PNG as a `data:` URL.
pub fn png_url(png: &[u8]) -> String {
    data_url("image/png", png)
}

/// A WAV as a `data:` URL.
pub fn wav_url(wav: &[u8]) -> String {
    data_url("audio/wav", wav)
}

fn data_url(media_type: &str, bytes: &[u8]) -> String {
    format!(
        "data:{media_type};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(png_url(b"\x89PNG"), "data:image/png;base64,iVBORw==");
        assert_eq!(wav_url(b"RIFF"), "data:audio/wav;base64,UklGRg==");
    }
}
