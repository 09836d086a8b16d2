//! History as the APIs show it: the page query read from request parameters, and a page of
//! messages as JSON. Shared by the signed history API and the admin API's channel view, so both read
//! the same parameters and answer the same shape.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::{Page, PageQuery};

/// Most messages one page holds.
pub const MAX_LIMIT: usize = 1000;

/// Query parameters of a history page.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters `page_query` reads
pub struct HistoryParams {
    /// `backwards` (newest first, the default) or `forwards` (oldest first).
    #[param(schema_with = direction)]
    direction: Option<String>,
    /// Messages per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page; forwards, also any serial to read after.
    #[param(minimum = 0, maximum = 9223372036854775807i64)]
    cursor: Option<u64>,
    /// Only messages published at or after this time (Unix milliseconds).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    start: Option<i64>,
    /// Only messages published at or before this time (Unix milliseconds).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    end: Option<i64>,
}

/// The directions a page is read in.
fn direction() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["backwards", "forwards"]))
        .build()
}

/// One stored message.
#[derive(Serialize, ToSchema)]
pub struct HistoryMessage {
    /// Its serial (increasing within the channel, not necessarily by one).
    serial: u64,
    /// The serial of the channel's message before it (0 if none).
    prev: u64,
    event: String,
    data: String,
    /// When it was accepted (Unix milliseconds).
    published_at: i64,
}

/// A page of history.
#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    channel: String,
    /// The epoch of the channel's history (as events and `subscription_succeeded` carry it).
    epoch: String,
    messages: Vec<HistoryMessage>,
    /// Pass as `cursor` (with the same direction) for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<u64>,
}

impl HistoryPage {
    pub fn new(channel: String, page: Page) -> Self {
        let messages = page
            .messages
            .iter()
            .map(|m| HistoryMessage {
                serial: m.serial,
                prev: m.prev,
                event: m.event.clone(),
                data: m.data.as_text().to_string(),
                published_at: m.published_ms,
            })
            .collect();
        HistoryPage {
            channel,
            epoch: page.epoch.to_string(),
            messages,
            next_cursor: page.next_cursor,
        }
    }
}

/// The page a request asks for, from its parameters (`param` looks one up by name); the error says
/// which parameter is wrong and how.
pub fn page_query<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Result<PageQuery, String> {
    let number = |name: &str| -> Result<Option<i64>, String> {
        param(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("Invalid {name} {v:?}: expected a number"))
            })
            .transpose()
    };
    let backwards = match param("direction") {
        None | Some("backwards") => true,
        Some("forwards") => false,
        Some(other) => {
            return Err(format!(
                "Invalid direction {other:?}: use \"backwards\" or \"forwards\""
            ))
        }
    };
    let limit = number("limit")?.unwrap_or(100);
    if limit < 1 || limit > MAX_LIMIT as i64 {
        return Err(format!("Invalid limit {limit}: use 1 to {MAX_LIMIT}"));
    }
    let cursor = match number("cursor")? {
        Some(c) if c < 0 => return Err(format!("Invalid cursor {c}: expected a serial")),
        c => c.map(|c| c as u64),
    };
    Ok(PageQuery {
        backwards,
        cursor,
        start_ms: number("start")?,
        end_ms: number("end")?,
        limit: limit as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&'static str, &'static str)]) -> Result<PageQuery, String> {
        page_query(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn parameters_are_read_and_checked() {
        let q = query(&[("direction", "forwards"), ("limit", "5"), ("cursor", "9")]).unwrap();
        assert!(!q.backwards && q.limit == 5 && q.cursor == Some(9));
        assert_eq!(query(&[]).unwrap().limit, 100);
        assert!(query(&[("limit", "0")]).unwrap_err().contains("limit"));
        assert!(query(&[("limit", "1001")]).unwrap_err().contains("limit"));
        assert!(query(&[("cursor", "x")]).unwrap_err().contains("cursor"));
        assert!(query(&[("direction", "up")]).unwrap_err().contains("direction"));
    }
}
