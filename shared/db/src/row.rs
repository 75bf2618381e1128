//! Reading values whose representation differs between the backends.

use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};

/// Reads a boolean column on either backend.
///
/// The `Any` driver cannot read a SQLite column declared `BOOLEAN` (it rejects the declared
/// type), so SQLite migrations declare booleans as `INTEGER` (0/1) while PostgreSQL keeps
/// `BOOLEAN`. Bind `bool` when writing (SQLite stores it as 0/1) and read with this function,
/// which accepts a PostgreSQL boolean or a SQLite integer.
pub fn get_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    let raw = row.try_get_raw(column)?;
    let kind = raw.type_info().kind();
    if raw.is_null() {
        return Err(sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: "unexpected NULL for a boolean column".into(),
        });
    }
    match kind {
        AnyTypeInfoKind::Bool => row.try_get::<bool, _>(column),
        kind if kind.is_integer() => Ok(row.try_get::<i64, _>(column)? != 0),
        _ => Err(sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: format!("expected a boolean, found {}", raw.type_info().name()).into(),
        }),
    }
}
