//! A request's query string, decoded as `application/x-www-form-urlencoded`: its parameters in
//! arrival order, held in one buffer.
//!
//! Every signed HTTP API request decodes its query (the signature covers it), so a publish pays for
//! this. Two allocations hold all of it, where a pair of `String`s per parameter took ten for a
//! signed publish's five. It does not know what the parameters mean: `http_signature` reads the
//! signing ones, handlers the rest.

/// Decoded query parameters, in order; names may repeat.
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// The decoded names and values, back to back.
    text: String,
    /// Where each parameter's name and value are in `text`.
    pairs: Vec<Pair>,
}

/// One parameter's place in `Query::text`: its name is `start..name_end`, its value
/// `value_start..end` (a split query keeps the `=` between them).
#[derive(Debug, Clone, Copy)]
struct Pair {
    start: usize,
    name_end: usize,
    value_start: usize,
    end: usize,
}

impl Query {
    /// Decodes `raw` as `form_urlencoded::parse` does. Most queries (every signed one a Pusher
    /// library sends) hold nothing to decode: those are split as they are, which costs a fraction of
    /// decoding them byte by byte.
    pub fn decode(raw: &[u8]) -> Self {
        std::str::from_utf8(raw)
            .ok()
            .and_then(Self::split)
            .unwrap_or_else(|| Self::from_pairs(form_urlencoded::parse(raw)))
    }

    /// `text` split at `&` and `=` in one pass over it; `None` when it has something to decode.
    fn split(text: &str) -> Option<Self> {
        let mut query = Query {
            text: String::new(),
            // A signed request's five or six parameters fit.
            pairs: Vec::with_capacity(8),
        };
        let (mut start, mut name_end) = (0, None);
        for (i, b) in text.bytes().enumerate() {
            match b {
                b'%' | b'+' => return None,
                b'&' => {
                    query.split_pair(start, name_end, i);
                    (start, name_end) = (i + 1, None);
                }
                b'=' if name_end.is_none() => name_end = Some(i),
                _ => {}
            }
        }
        query.split_pair(start, name_end, text.len());
        query.text = text.to_string();
        Some(query)
    }

    /// Adds the pair `start..end` of a split query, whose first `=` (if any) is at `name_end`; an
    /// empty pair is no parameter.
    fn split_pair(&mut self, start: usize, name_end: Option<usize>, end: usize) {
        if start == end {
            return;
        }
        let name_end = name_end.unwrap_or(end);
        self.pairs.push(Pair {
            start,
            name_end,
            // After the `=`; empty, at the pair's end, when there is none.
            value_start: (name_end + 1).min(end),
            end,
        });
    }

    /// The parameters given one by one.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(given: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut query = Query::default();
        for (name, value) in given {
            query.push(name.as_ref(), value.as_ref());
        }
        query
    }

    /// Adds a parameter at the end.
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(value);
        self.pairs.push(Pair {
            start,
            name_end,
            value_start: name_end,
            end: self.text.len(),
        });
    }

    /// The parameters, names with their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pairs
            .iter()
            .map(|p| (&self.text[p.start..p.name_end], &self.text[p.value_start..p.end]))
    }

    /// The value of the first parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(query: &Query) -> Vec<(String, String)> {
        query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_query_decodes_as_form_urlencoded_does() {
        for raw in [
            "",
            "a",
            "a=",
            "=b",
            "&",
            "a=b&&c=d&",
            "a=b=c",
            "k=v&k=w",
            "x=%41+b&y=%zz",
            "a%3D=b",
            "auth_key=k&auth_signature=ab12",
            "ü=ö&é",
        ] {
            let expected: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(owned(&Query::decode(raw.as_bytes())), expected, "{raw:?}");
        }
        assert_eq!(
            owned(&Query::decode(b"a=\xff")),
            vec![("a".to_string(), "\u{fffd}".to_string())]
        );
    }

    #[test]
    fn parameters_given_one_by_one_read_back_in_order() {
        let mut query = Query::from_pairs([("b", "2"), ("a=", "")]);
        query.push("b", "3");
        assert_eq!(
            owned(&query),
            [("b", "2"), ("a=", ""), ("b", "3")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(query.get("b"), Some("2"));
        assert_eq!(query.get("a="), Some(""));
        assert_eq!(query.get("c"), None);
    }
}
