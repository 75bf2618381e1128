//! The mails gigmesh sends and how they read: subject, plain-text and HTML bodies, links into
//! the web app; here the account mails and the parts every mail shares, in `order_mails.rs`
//! and `payment_mails.rs` those of orders and their money. Pure: no IO, no proto or
//! transport types. Every value that comes from a user is HTML-escaped before it enters the
//! HTML body.

use std::fmt::Write as _;

use gigmesh_types::{Email, escape_html};
use time::OffsetDateTime;
use time::macros::format_description;

/// Which mail it is; stored with every sent mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Confirms that an address belongs to the account.
    EmailVerification,
    /// Lets the owner choose a new password.
    PasswordReset,
    /// Tells the owner that the password changed.
    PasswordChanged,
    /// Tells a seller about a new, paid order.
    OrderNew,
    /// Tells the seller that the buyer answered the requirements.
    OrderRequirementsSubmitted,
    /// Tells the buyer that the work was delivered.
    OrderDelivered,
    /// Tells the seller that the buyer asked for a revision.
    OrderRevisionRequested,
    /// Asks the buyer to answer the seller's request for more days.
    OrderExtensionRequested,
    /// Tells the seller that the extension was accepted.
    OrderExtensionAccepted,
    /// Tells the seller that the buyer declined the extension.
    OrderExtensionDeclined,
    /// Tells both sides that the order is past its due date.
    OrderLate,
    /// Asks one side to answer the other's cancellation request.
    OrderCancellationRequested,
    /// Tells the requester that the cancellation was declined.
    OrderCancellationDeclined,
    /// Tells both sides that the order was cancelled (and refunded).
    OrderCancelled,
    /// Tells the buyer that the order was not paid in time.
    OrderExpired,
    /// Tells one side that the other opened a dispute.
    OrderDisputeOpened,
    /// Tells both sides how an admin resolved the dispute.
    OrderDisputeResolved,
    /// Tells both sides that the order is complete.
    OrderCompleted,
    /// The buyer's receipt for a payment.
    PaymentReceipt,
    /// Tells the buyer that a payment attempt failed.
    PaymentFailed,
    /// Tells the buyer that money went back to them.
    RefundIssued,
    /// The buyer's invoice of a paid order.
    InvoiceIssued,
    /// Tells the seller that earnings became available.
    FundsCleared,
    /// Tells the seller that a withdrawal was sent.
    WithdrawalSent,
    /// Tells the seller that a withdrawal failed.
    WithdrawalFailed,
    /// Tells a participant that messages of a conversation have waited unread.
    UnreadMessages,
}

impl MailKind {
    /// The stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::EmailVerification => "email_verification",
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::OrderNew => "order_new",
            MailKind::OrderRequirementsSubmitted => "order_requirements_submitted",
            MailKind::OrderDelivered => "order_delivered",
            MailKind::OrderRevisionRequested => "order_revision_requested",
            MailKind::OrderExtensionRequested => "order_extension_requested",
            MailKind::OrderExtensionAccepted => "order_extension_accepted",
            MailKind::OrderExtensionDeclined => "order_extension_declined",
            MailKind::OrderLate => "order_late",
            MailKind::OrderCancellationRequested => "order_cancellation_requested",
            MailKind::OrderCancellationDeclined => "order_cancellation_declined",
            MailKind::OrderCancelled => "order_cancelled",
            MailKind::OrderExpired => "order_expired",
            MailKind::OrderDisputeOpened => "order_dispute_opened",
            MailKind::OrderDisputeResolved => "order_dispute_resolved",
            MailKind::OrderCompleted => "order_completed",
            MailKind::PaymentReceipt => "payment_receipt",
            MailKind::PaymentFailed => "payment_failed",
            MailKind::RefundIssued => "refund_issued",
            MailKind::InvoiceIssued => "invoice_issued",
            MailKind::FundsCleared => "funds_cleared",
            MailKind::WithdrawalSent => "withdrawal_sent",
            MailKind::WithdrawalFailed => "withdrawal_failed",
            MailKind::UnreadMessages => "unread_messages",
        }
    }
}

/// A composed mail, ready to be addressed and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Which mail.
    pub kind: MailKind,
    /// Where it goes.
    pub recipient: Email,
    /// Name to show beside the address, if known.
    pub recipient_name: Option<String>,
    /// Subject line.
    pub subject: String,
    /// The plain-text alternative.
    pub text_body: String,
    /// The HTML alternative.
    pub html_body: String,
}

/// The web app the links in mails point to, e.g. `https://gigmesh.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebApp {
    base_url: String,
}

impl WebApp {
    /// The app at `base_url` (a trailing slash is dropped).
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// `{base}/{page}?token={token}`, with the token percent-encoded.
    pub fn link_with_token(&self, page: &str, token: &str) -> String {
        let encoded_token: String =
            url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        format!("{}/{page}?token={encoded_token}", self.base_url)
    }

    /// `{base}/{page}`.
    pub fn link(&self, page: &str) -> String {
        format!("{}/{page}", self.base_url)
    }

    /// `{base}/orders/{order_id}`: the order's page.
    pub fn order_link(&self, order_id: &str) -> String {
        self.link(&format!("orders/{order_id}"))
    }
}

/// The verification mail: a link that verifies the address, and the token on its own.
pub fn email_verification_mail(
    web_app: &WebApp,
    recipient: Email,
    username: &str,
    token: &str,
    expires_at_millis: Option<i64>,
) -> Mail {
    let link = web_app.link_with_token("verify-email", token);
    let expiry = expires_at_millis
        .map(|millis| format!("The link expires on {}.", format_utc(millis)))
        .unwrap_or_default();
    let text_body = format!(
        "Hi {username},\n\n\
         Please confirm that {recipient} is your email address by opening this link:\n\n\
         {link}\n\n\
         Or enter this code in the app: {token}\n\n\
         {expiry}\n\
         If you did not create a gigmesh account, ignore this mail.\n\n\
         — gigmesh\n"
    );
    let html_body = html_document(
        "Verify your email",
        &[
            format!("Hi {},", escape_html(username)),
            format!(
                "Please confirm that <strong>{}</strong> is your email address.",
                escape_html(recipient.as_str())
            ),
            button(&link, "Verify email address"),
            format!(
                "Or enter this code in the app: <code>{}</code>",
                escape_html(token)
            ),
            escape_html(&expiry),
            "If you did not create a gigmesh account, ignore this mail.".to_owned(),
        ],
        &link,
    );
    Mail {
        kind: MailKind::EmailVerification,
        recipient,
        recipient_name: Some(username.to_owned()),
        subject: "Verify your email".to_owned(),
        text_body,
        html_body,
    }
}

/// The password-reset mail: a link valid for one hour.
pub fn password_reset_mail(
    web_app: &WebApp,
    recipient: Email,
    username: &str,
    token: &str,
) -> Mail {
    let link = web_app.link_with_token("reset-password", token);
    let text_body = format!(
        "Hi {username},\n\n\
         Someone asked to reset the password of your gigmesh account. \
         Choose a new password here:\n\n\
         {link}\n\n\
         The link is valid for one hour and works once.\n\
         If you did not ask for this, ignore this mail: your password stays as it is.\n\n\
         — gigmesh\n"
    );
    let html_body = html_document(
        "Reset your password",
        &[
            format!("Hi {},", escape_html(username)),
            "Someone asked to reset the password of your gigmesh account.".to_owned(),
            button(&link, "Choose a new password"),
            "The link is valid for one hour and works once.".to_owned(),
            "If you did not ask for this, ignore this mail: your password stays as it is."
                .to_owned(),
        ],
        &link,
    );
    Mail {
        kind: MailKind::PasswordReset,
        recipient,
        recipient_name: Some(username.to_owned()),
        subject: "Reset your password".to_owned(),
        text_body,
        html_body,
    }
}

/// The security notice after a password change.
pub fn password_changed_mail(web_app: &WebApp, recipient: Email, changed_at_millis: i64) -> Mail {
    let when = format_utc(changed_at_millis);
    let reset_link = web_app.link("forgot-password");
    let text_body = format!(
        "Hello,\n\n\
         The password of the gigmesh account {recipient} was changed on {when}.\n\n\
         If that was you, there is nothing to do.\n\
         If it was not, reset your password now and check your account:\n\n\
         {reset_link}\n\n\
         — gigmesh\n"
    );
    let html_body = html_document(
        "Your password was changed",
        &[
            "Hello,".to_owned(),
            format!(
                "The password of the gigmesh account <strong>{}</strong> was changed on {}.",
                escape_html(recipient.as_str()),
                escape_html(&when)
            ),
            "If that was you, there is nothing to do.".to_owned(),
            "If it was not, reset your password now and check your account:".to_owned(),
            button(&reset_link, "Reset password"),
        ],
        &reset_link,
    );
    Mail {
        kind: MailKind::PasswordChanged,
        recipient,
        recipient_name: None,
        subject: "Your gigmesh password was changed".to_owned(),
        text_body,
        html_body,
    }
}

/// `2026-11-05 14:03 UTC`.
pub(crate) fn format_utc(millis: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|moment| moment.format(&format).ok())
        .unwrap_or_else(|| "an unknown time".to_owned())
}

pub(crate) fn button(link: &str, label: &str) -> String {
    format!(
        "<a href=\"{}\" style=\"display:inline-block;padding:12px 20px;background:#1d4ed8;\
         color:#ffffff;text-decoration:none;border-radius:6px\">{}</a>",
        escape_html(link),
        escape_html(label)
    )
}

/// A small, mail-client-safe HTML document: one column of paragraphs (already escaped) and
/// the link spelled out for clients that do not render buttons.
pub(crate) fn html_document(title: &str, paragraphs: &[String], link: &str) -> String {
    let mut body = String::new();
    for paragraph in paragraphs.iter().filter(|paragraph| !paragraph.is_empty()) {
        let _ = writeln!(body, "<p>{paragraph}</p>");
    }
    let escaped_link = escape_html(link);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n</head>\n\
         <body style=\"font-family:sans-serif;line-height:1.5;color:#111827\">\n\
         <h1 style=\"font-size:20px\">{title}</h1>\n{body}\
         <p style=\"font-size:12px;color:#6b7280\">If the button does not work, copy this link \
         into your browser: <a href=\"{escaped_link}\">{escaped_link}</a></p>\n\
         <p>— gigmesh</p>\n</body>\n</html>\n",
        title = escape_html(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("email", "ada@example.com").unwrap()
    }

    #[test]
    fn links_point_into_the_web_app_with_an_encoded_token() {
        let web_app = WebApp::new("https://app.gigmesh.test/");
        assert_eq!(
            web_app.link_with_token("verify-email", "a+b/c=="),
            "https://app.gigmesh.test/verify-email?token=a%2Bb%2Fc%3D%3D"
        );
        assert_eq!(
            web_app.link("forgot-password"),
            "https://app.gigmesh.test/forgot-password"
        );
    }

    #[test]
    fn verification_mail_has_link_token_and_escaped_name() {
        let web_app = WebApp::new("https://app.gigmesh.test");
        let mail = email_verification_mail(
            &web_app,
            email(),
            "<b>ada</b>",
            "tok123",
            Some(1_700_000_000_000),
        );
        assert_eq!(mail.kind, MailKind::EmailVerification);
        assert_eq!(mail.subject, "Verify your email");
        let link = "https://app.gigmesh.test/verify-email?token=tok123";
        assert!(mail.text_body.contains(link));
        assert!(mail.text_body.contains("tok123"));
        assert!(mail.text_body.contains("2023-11-14 22:13 UTC"));
        assert!(mail.html_body.contains(&format!("href=\"{link}\"")));
        assert!(mail.html_body.contains("&lt;b&gt;ada&lt;/b&gt;"));
        assert!(!mail.html_body.contains("<b>ada</b>"));
    }

    #[test]
    fn reset_mail_says_it_is_valid_one_hour() {
        let web_app = WebApp::new("https://app.gigmesh.test");
        let mail = password_reset_mail(&web_app, email(), "ada", "reset-token");
        assert_eq!(mail.kind, MailKind::PasswordReset);
        assert!(
            mail.text_body
                .contains("https://app.gigmesh.test/reset-password?token=reset-token")
        );
        assert!(mail.text_body.contains("valid for one hour"));
        assert!(mail.html_body.contains("valid for one hour"));
    }

    #[test]
    fn password_changed_notice_names_the_account_and_time() {
        let web_app = WebApp::new("https://app.gigmesh.test");
        let mail = password_changed_mail(&web_app, email(), 1_700_000_000_000);
        assert_eq!(mail.kind, MailKind::PasswordChanged);
        assert!(mail.text_body.contains("ada@example.com"));
        assert!(mail.text_body.contains("2023-11-14 22:13 UTC"));
        assert!(
            mail.html_body
                .contains("https://app.gigmesh.test/forgot-password")
        );
    }
}
