//! TAXII 2.1 filtering and paging over a collection's objects (pure):
//! `added_after`, `limit`, `next`, `match[id|type|version|spec_version]`.
//! `next` is an offset into the filtered list, which is ordered by date
//! added: what is added later goes to its end.

use std::collections::BTreeMap;

use tisa_core::Timestamp;

use crate::export::Entry;
use crate::time;

/// Default and largest page.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page a client may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Which versions of each object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Versions {
    /// The latest (the default).
    Last,
    /// The first.
    First,
    /// Every version.
    All,
    /// These versions (epoch ms).
    At(Vec<Timestamp>),
}

/// A request's filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `added_after`.
    pub added_after: Option<Timestamp>,
    /// `limit` (at most [`MAX_LIMIT`]).
    pub limit: usize,
    /// `next`: the offset to start at.
    pub next: usize,
    /// `match[id]`.
    pub ids: Vec<String>,
    /// `match[type]`.
    pub types: Vec<String>,
    /// `match[version]`.
    pub versions: Versions,
    /// `match[spec_version]` (tisa has 2.1 only).
    pub spec_versions: Vec<String>,
}

impl Params {
    /// Parses the query string's pairs; an error names the parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<Params, String> {
        let mut p = Params {
            added_after: None,
            limit: DEFAULT_LIMIT,
            next: 0,
            ids: Vec::new(),
            types: Vec::new(),
            versions: Versions::Last,
            spec_versions: Vec::new(),
        };
        let list = |v: &str| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
        for (k, v) in pairs {
            match k.as_str() {
                "added_after" => p.added_after = Some(time::parse(v).map_err(|e| format!("added_after: {e}"))?),
                "limit" => {
                    let n: usize = v.parse().map_err(|_| "limit: not a positive integer".to_owned())?;
                    if n == 0 {
                        return Err("limit: must be at least 1".into());
                    }
                    p.limit = n.min(MAX_LIMIT);
                }
                "next" => p.next = v.parse().map_err(|_| "next: not a token this server gave".to_owned())?,
                "match[id]" => p.ids.extend(list(v)),
                "match[type]" => p.types.extend(list(v)),
                "match[spec_version]" => p.spec_versions.extend(list(v)),
                "match[version]" => {
                    p.versions = match v.as_str() {
                        "last" => Versions::Last,
                        "first" => Versions::First,
                        "all" => Versions::All,
                        _ => {
                            let mut at = Vec::new();
                            for s in list(v) {
                                match s.as_str() {
                                    "last" | "first" | "all" => {
                                        return Err("match[version]: mix of keywords and timestamps".into())
                                    }
                                    _ => at.push(time::parse(&s).map_err(|e| format!("match[version]: {e}"))?),
                                }
                            }
                            Versions::At(at)
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

/// The entries matching every filter but the paging, in collection order.
pub fn select<'a>(all: &'a [Entry], p: &Params) -> Vec<&'a Entry> {
    let matching: Vec<&Entry> = all
        .iter()
        .filter(|e| p.ids.is_empty() || p.ids.contains(&e.id))
        .filter(|e| p.types.is_empty() || p.types.contains(&e.ty))
        .filter(|_| p.spec_versions.is_empty() || p.spec_versions.iter().any(|s| s == "2.1"))
        .collect();
    let version = |e: &Entry| time::parse(&e.version).unwrap_or(Timestamp(0));
    let chosen: Vec<&Entry> = match &p.versions {
        Versions::All => matching,
        Versions::At(at) => matching.into_iter().filter(|e| at.contains(&version(e))).collect(),
        Versions::Last | Versions::First => {
            let mut pick: BTreeMap<&str, &Entry> = BTreeMap::new();
            for e in matching {
                let slot = pick.entry(e.id.as_str()).or_insert(e);
                let better =
                    if p.versions == Versions::Last { version(e) > version(slot) } else { version(e) < version(slot) };
                if better {
                    *slot = e;
                }
            }
            let mut v: Vec<&Entry> = pick.into_values().collect();
            v.sort_by(|a, b| (a.date_added, &a.id, &a.version).cmp(&(b.date_added, &b.id, &b.version)));
            v
        }
    };
    chosen.into_iter().filter(|e| p.added_after.is_none_or(|t| e.date_added > t)).collect()
}

/// One page of `selected`: the items, whether more follow, and the `next` token.
pub fn page<'a>(selected: &[&'a Entry], p: &Params) -> (Vec<&'a Entry>, bool, Option<String>) {
    let start = p.next.min(selected.len());
    let end = start.saturating_add(p.limit).min(selected.len());
    let more = end < selected.len();
    (selected[start..end].to_vec(), more, more.then(|| end.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(id: &str, version_ms: u64, added: u64) -> Entry {
        Entry {
            date_added: Timestamp(added),
            id: id.into(),
            ty: id.split("--").next().unwrap().into(),
            version: time::format(Timestamp(version_ms)),
            object: json!({}),
            report_id: None,
        }
    }

    #[test]
    fn versions_added_after_and_paging() {
        let all =
            vec![e("report--a", 10, 100), e("identity--i", 1, 100), e("report--a", 20, 200), e("report--b", 5, 300)];
        let q = |s: &[(&str, &str)]| {
            Params::parse(&s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()).unwrap()
        };
        let ids =
            |v: Vec<&Entry>| v.iter().map(|e| format!("{}@{}", e.id, e.date_added.as_millis())).collect::<Vec<_>>();
        assert_eq!(ids(select(&all, &q(&[]))), ["identity--i@100", "report--a@200", "report--b@300"]);
        assert_eq!(ids(select(&all, &q(&[("match[version]", "all")]))).len(), 4);
        assert_eq!(
            ids(select(&all, &q(&[("match[version]", "first"), ("match[type]", "report")]))),
            ["report--a@100", "report--b@300"]
        );
        let at = time::format(Timestamp(10));
        assert_eq!(ids(select(&all, &q(&[("match[version]", at.as_str())]))), ["report--a@100"]);
        let after = time::format(Timestamp(150));
        assert_eq!(ids(select(&all, &q(&[("added_after", after.as_str())]))), ["report--a@200", "report--b@300"]);
        assert_eq!(ids(select(&all, &q(&[("match[id]", "report--b")]))), ["report--b@300"]);
        let p = q(&[("limit", "2")]);
        let s = select(&all, &p);
        let (items, more, next) = page(&s, &p);
        assert_eq!((items.len(), more, next.as_deref()), (2, true, Some("2")));
        let p = q(&[("limit", "2"), ("next", "2")]);
        let (items, more, next) = page(&s, &p);
        assert_eq!((items.len(), more, next), (1, false, None));
        assert!(Params::parse(&[("limit".into(), "0".into())]).is_err());
        assert!(Params::parse(&[("added_after".into(), "soon".into())]).is_err());
    }
}
