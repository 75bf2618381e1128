//! The one layout of the mails about orders and their money: a greeting by name, a few
//! paragraphs, at most one quoted message from a user, and a button to the page the mail is
//! about. Every part is plain text; the HTML alternative escapes all of it, so a gig title,
//! a name or a message can never become markup. Pure: no IO.

use gigmesh_types::{Email, escape_html};

use crate::domain::{Mail, MailKind, button, html_document};

/// Who a mail goes to: the address, and the name to greet and show beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub email: Email,
    /// The display name, else the username, when known.
    pub name: Option<String>,
}

/// Words of a user quoted in a mail (a delivery message, a reason, an admin's note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Who said it, e.g. `The seller wrote`.
    pub label: String,
    /// What was said, as written.
    pub text: String,
}

impl Quote {
    /// `text` quoted as said by `label`, unless it is blank.
    pub fn unless_blank(label: &str, text: &str) -> Option<Quote> {
        (!text.trim().is_empty()).then(|| Quote {
            label: label.to_owned(),
            text: text.to_owned(),
        })
    }
}

/// A mail about an order or its money, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Which mail.
    pub kind: MailKind,
    /// The subject line.
    pub subject: String,
    /// The paragraphs, plain text.
    pub paragraphs: Vec<String>,
    /// A user's words, shown set apart after the paragraphs.
    pub quote: Option<Quote>,
    /// The page the mail is about.
    pub link: String,
    /// The button's label.
    pub link_label: &'static str,
}

impl Notice {
    /// The mail to `recipient`: a plain-text and an HTML alternative of the same content.
    pub fn into_mail(self, recipient: Recipient) -> Mail {
        let name = recipient
            .name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty());
        let greeting = match name {
            Some(name) => format!("Hi {name},"),
            None => "Hello,".to_owned(),
        };
        let subject = single_line(&self.subject);
        let text_body = self.text_body(&greeting);
        let html_body = self.html_body(&greeting);
        Mail {
            kind: self.kind,
            recipient: recipient.email,
            recipient_name: name.map(single_line),
            subject,
            text_body,
            html_body,
        }
    }

    fn text_body(&self, greeting: &str) -> String {
        let mut text = format!("{greeting}\n\n");
        for paragraph in self
            .paragraphs
            .iter()
            .filter(|paragraph| !paragraph.is_empty())
        {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
        if let Some(quote) = &self.quote {
            text.push_str(&quote.label);
            text.push_str(":\n");
            for line in quote.text.lines() {
                text.push_str("> ");
                text.push_str(line);
                text.push('\n');
            }
            text.push('\n');
        }
        text.push_str(&format!(
            "{}: {}\n\n— gigmesh\n",
            self.link_label, self.link
        ));
        text
    }

    fn html_body(&self, greeting: &str) -> String {
        let mut paragraphs = vec![escape_html(greeting)];
        paragraphs.extend(
            self.paragraphs
                .iter()
                .map(|paragraph| escape_html(paragraph)),
        );
        if let Some(quote) = &self.quote {
            let lines: Vec<String> = quote.text.lines().map(escape_html).collect();
            paragraphs.push(format!(
                "{}:<br>\n<span style=\"display:block;border-left:3px solid #d1d5db;\
                 padding-left:12px;color:#374151\">{}</span>",
                escape_html(&quote.label),
                lines.join("<br>\n")
            ));
        }
        paragraphs.push(button(&self.link, self.link_label));
        html_document(&self.subject, &paragraphs, &self.link)
    }
}

/// `text` on one line: a header cannot hold line breaks or other control characters.
fn single_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            kind: MailKind::OrderDelivered,
            subject: "Delivered: <b>logo</b>\r\nBcc: x@example.com".to_owned(),
            paragraphs: vec!["Your order \"<script>\" was delivered.".to_owned()],
            quote: Some(Quote {
                label: "The seller wrote".to_owned(),
                text: "line one\n<i>line two</i>".to_owned(),
            }),
            link: "https://app.gigmesh.test/orders/1".to_owned(),
            link_label: "View the order",
        }
    }

    fn recipient(name: Option<&str>) -> Recipient {
        Recipient {
            email: Email::parse("email", "ada@example.com").expect("email"),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn everything_from_users_is_escaped_in_html_and_kept_in_text() {
        let mail = notice().into_mail(recipient(Some("<Ada>")));
        assert!(mail.text_body.starts_with("Hi <Ada>,\n\n"));
        assert!(
            mail.text_body
                .contains("Your order \"<script>\" was delivered.")
        );
        assert!(mail.text_body.contains("> line one\n> <i>line two</i>\n"));
        assert!(
            mail.text_body
                .contains("View the order: https://app.gigmesh.test/orders/1")
        );
        assert!(!mail.html_body.contains("<script>"));
        assert!(!mail.html_body.contains("<i>"));
        assert!(!mail.html_body.contains("<Ada>"));
        assert!(mail.html_body.contains("Hi &lt;Ada&gt;,"));
        assert!(mail.html_body.contains("&quot;&lt;script&gt;&quot;"));
        assert!(
            mail.html_body
                .contains("line one<br>\n&lt;i&gt;line two&lt;/i&gt;")
        );
        assert!(mail.html_body.contains("&lt;b&gt;logo&lt;/b&gt;"));
    }

    #[test]
    fn the_subject_is_one_line_and_an_unknown_name_gets_a_plain_greeting() {
        let mail = notice().into_mail(recipient(None));
        assert_eq!(mail.subject, "Delivered: <b>logo</b> Bcc: x@example.com");
        assert!(mail.text_body.starts_with("Hello,\n\n"));
        assert_eq!(mail.recipient_name, None);
    }
}
