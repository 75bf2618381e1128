//! An invoice as a one-page PDF (A4), set in the PDF base-14 Helvetica fonts so no font
//! files are needed: the number and date, both parties, the lines, and the totals.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

use crate::store::InvoiceRecord;

/// A4 in points.
const PAGE_WIDTH: i64 = 595;
const PAGE_HEIGHT: i64 = 842;
const LEFT: i64 = 56;

/// An amount of minor units as text with two decimals (or none for zero-decimal
/// currencies).
pub fn format_amount(amount_minor: i64, currency: gigmesh_types::Currency) -> String {
    let zero_decimals = matches!(
        currency.code(),
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "XPF" | "PYG" | "RWF"
    );
    if zero_decimals {
        return format!("{amount_minor} {currency}");
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    let absolute = amount_minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", absolute / 100, absolute % 100)
}

fn date_of(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis / 1000)
        .map(|moment| {
            format!(
                "{:04}-{:02}-{:02}",
                moment.year(),
                u8::from(moment.month()),
                moment.day()
            )
        })
        .unwrap_or_default()
}

/// Text in WinAnsi: characters outside Latin-1 become `?`.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|character| u8::try_from(u32::from(character)).unwrap_or(b'?'))
        .collect()
}

struct Page {
    operations: Vec<Operation>,
    y: i64,
}

impl Page {
    fn text(&mut self, font: &str, size: i64, x: i64, text: &str) {
        self.operations.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec![font.into(), size.into()]),
            Operation::new("Td", vec![x.into(), self.y.into()]),
            Operation::new(
                "Tj",
                vec![Object::String(latin1(text), lopdf::StringFormat::Literal)],
            ),
            Operation::new("ET", vec![]),
        ]);
    }

    fn line(&mut self, font: &str, size: i64, text: &str) {
        self.text(font, size, LEFT, text);
        self.y -= size + 6;
    }
}

/// The invoice as PDF bytes.
pub fn render(invoice: &InvoiceRecord) -> anyhow::Result<Vec<u8>> {
    let currency = invoice.currency;
    let mut page = Page {
        operations: Vec::new(),
        y: PAGE_HEIGHT - 72,
    };
    page.line("F2", 20, &format!("Invoice {}", invoice.number));
    page.line("F1", 10, &format!("Issued {}", date_of(invoice.issue_time)));
    page.line("F1", 10, &format!("Order {}", invoice.order_id));
    page.y -= 12;
    page.line("F2", 12, "Buyer");
    page.line("F1", 10, &invoice.buyer.name());
    page.line("F1", 10, &invoice.buyer.email);
    page.y -= 6;
    page.line("F2", 12, "Seller");
    page.line("F1", 10, &invoice.seller.name());
    page.line("F1", 10, &invoice.seller.email);
    page.y -= 12;
    page.line("F2", 11, "Description / Quantity / Unit price / Amount");
    for line in &invoice.lines {
        page.line(
            "F1",
            10,
            &format!(
                "{} / {} / {} / {}",
                line.description,
                line.quantity,
                format_amount(line.unit_price_minor, currency),
                format_amount(line.amount_minor, currency)
            ),
        );
    }
    page.y -= 12;
    page.line(
        "F1",
        11,
        &format!(
            "Subtotal: {}",
            format_amount(invoice.subtotal_minor, currency)
        ),
    );
    page.line(
        "F1",
        11,
        &format!(
            "Service fee: {}",
            format_amount(invoice.service_fee_minor, currency)
        ),
    );
    page.line(
        "F2",
        12,
        &format!(
            "Total paid: {}",
            format_amount(invoice.total_minor, currency)
        ),
    );

    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let regular = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let bold = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources = document.add_object(dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold },
    });
    let content = Content {
        operations: page.operations,
    };
    let content_id = document.add_object(Stream::new(dictionary! {}, content.encode()?));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), PAGE_WIDTH.into(), PAGE_HEIGHT.into()],
        }),
    );
    let catalog = document.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    document.trailer.set("Root", catalog);
    document.compress();
    let mut bytes = Vec::new();
    document.save_to(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use gigmesh_types::Currency;

    use super::*;

    #[test]
    fn amounts_have_two_decimals() {
        assert_eq!(format_amount(12_345, Currency::USD), "123.45 USD");
        assert_eq!(format_amount(5, Currency::USD), "0.05 USD");
        let yen = Currency::from_code("JPY").expect("JPY");
        assert_eq!(format_amount(500, yen), "500 JPY");
    }
}
