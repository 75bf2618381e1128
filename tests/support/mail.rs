//! Reading mail the mesh sent: `.eml` files in dev mode, an SMTP server's mailbox otherwise.

use std::path::Path;
use std::time::{Duration, Instant};

/// A received message, decoded enough for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The raw message.
    pub raw: String,
    /// The message with quoted-printable soft breaks and `=3D` undone.
    pub decoded: String,
}

impl ReceivedMail {
    /// Whether the message is addressed to `recipient`.
    pub fn is_to(&self, recipient: &str) -> bool {
        self.decoded.lines().any(|line| {
            line.to_ascii_lowercase().starts_with("to:")
                && line
                    .to_ascii_lowercase()
                    .contains(&recipient.to_ascii_lowercase())
        })
    }

    /// The value of the first `token=` parameter in the message.
    pub fn token(&self) -> Option<String> {
        let start = self.decoded.find("token=")? + "token=".len();
        let token: String = self.decoded[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }

    /// The subject line.
    pub fn subject(&self) -> String {
        self.decoded
            .lines()
            .find_map(|line| line.strip_prefix("Subject:"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

fn decode(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// Whether `raw` holds a whole message: a multipart message ends with its closing boundary.
/// A file can be read while its writer is still at work (lettre's file transport writes the
/// `.eml` in place), and a cut-off message must not yield a cut-off token.
fn is_complete(raw: &str) -> bool {
    let Some(start) = raw.find("boundary=") else {
        return true;
    };
    let boundary: String = raw[start + "boundary=".len()..]
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !matches!(c, '"' | ';' | '\r' | '\n'))
        .collect();
    raw.contains(&format!("--{boundary}--"))
}

fn read_all(directory: &Path) -> Vec<ReceivedMail> {
    let mut found = Vec::new();
    let Ok(entries) = walk(directory) else {
        return found;
    };
    for path in entries {
        if let Ok(raw) = std::fs::read_to_string(&path)
            && is_complete(&raw)
        {
            found.push(ReceivedMail {
                decoded: decode(&raw),
                raw,
            });
        }
    }
    found
}

/// Every file under `directory`, except a Maildir's `tmp` folder, where deliveries are
/// written before they are moved to `new` (readers must ignore it).
fn walk(directory: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "tmp") {
                continue;
            }
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// Waits up to 10 s for a message to `recipient` whose subject contains `subject`, in any file
/// under `directory` (an `.eml` directory or a maildir).
pub async fn wait_for_mail(directory: &Path, recipient: &str, subject: &str) -> ReceivedMail {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(mail) = read_all(directory).into_iter().find(|mail| {
            mail.is_to(recipient)
                && mail
                    .subject()
                    .to_lowercase()
                    .contains(&subject.to_lowercase())
        }) {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {recipient} with subject containing {subject:?} under {}",
            directory.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
