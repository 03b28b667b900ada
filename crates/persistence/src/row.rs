//! Typed column access for `AnyRow`, turning bad stored data into `StoreError::Corrupt`.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::{StoreError, parse_instant};

pub(crate) trait RowExt {
    fn text(&self, column: &'static str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &'static str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &'static str) -> Result<Option<i64>, StoreError>;
    fn opt_float(&self, column: &'static str) -> Result<Option<f64>, StoreError>;
    fn uuid(&self, column: &'static str) -> Result<Uuid, StoreError>;
    fn opt_uuid(&self, column: &'static str) -> Result<Option<Uuid>, StoreError>;
    fn instant(&self, column: &'static str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_instant(&self, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn parsed<T, E: std::fmt::Display>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, StoreError>;
}

fn corrupt(column: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        column,
        detail: detail.to_string(),
    }
}

impl RowExt for AnyRow {
    fn text(&self, column: &'static str) -> Result<String, StoreError> {
        self.try_get::<String, _>(column)
            .map_err(|e| corrupt(column, e))
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        self.try_get::<Option<String>, _>(column)
            .map_err(|e| corrupt(column, e))
    }

    fn int(&self, column: &'static str) -> Result<i64, StoreError> {
        self.try_get::<i64, _>(column)
            .map_err(|e| corrupt(column, e))
    }

    fn opt_int(&self, column: &'static str) -> Result<Option<i64>, StoreError> {
        self.try_get::<Option<i64>, _>(column)
            .map_err(|e| corrupt(column, e))
    }

    fn opt_float(&self, column: &'static str) -> Result<Option<f64>, StoreError> {
        self.try_get::<Option<f64>, _>(column)
            .map_err(|e| corrupt(column, e))
    }

    fn opt_uuid(&self, column: &'static str) -> Result<Option<Uuid>, StoreError> {
        self.opt_text(column)?
            .map(|s| Uuid::parse_str(&s))
            .transpose()
            .map_err(|e| corrupt(column, e))
    }

    fn uuid(&self, column: &'static str) -> Result<Uuid, StoreError> {
        self.parsed(column, Uuid::parse_str)
    }

    fn instant(&self, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
        parse_instant(column, &self.text(column)?)
    }

    fn opt_instant(&self, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_text(column)?
            .map(|t| parse_instant(column, &t))
            .transpose()
    }

    fn parsed<T, E: std::fmt::Display>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        let text = self.text(column)?;
        parse(&text).map_err(|e| corrupt(column, e))
    }
}
