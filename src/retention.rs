//! Retention: which versions must be kept, and which are due for disposal.
//!
//! [`evaluate`] is a pure function of a document's versions, the one rule
//! that applies to it (the first `[[retention]]` rule matching its share and
//! path — so one rule decides and the answer is explainable), the legal
//! holds covering it and the time. Per version it answers a status and the
//! reasons:
//!
//! - `current`: the current version of a live document. Never due.
//! - `retained`: kept by a keep rule (`keep_last`, restic-style
//!   `keep_hourly/daily/weekly/monthly`), or still inside `retain_for`, or
//!   kept forever because the rule has no `retain_for` (or no rule applies).
//! - `held`: would be due, but a legal hold covers it.
//! - `due`: may be disposed of.
//!
//! A version's clock starts when docvault saw it superseded (the next
//! version or the deletion), never the file's mtime. `keep_last` and the
//! thinning rules count the content versions of live documents; once a
//! document is deleted, every version of it (the deletion record included)
//! is kept for `retain_for` after the deletion and then due.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::catalog::VersionRecord;
use crate::config::RetentionRule;

/// What may happen to a version.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Current,
    Retained,
    Held,
    Due,
}

/// A legal hold: nothing under `prefix` of `share` (and, if given, recorded
/// within `[from, to]`) may be disposed of while it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: u64,
    pub share: String,
    /// A plain string prefix of the share-relative path; `""` = the whole share.
    pub prefix: String,
    pub reason: String,
    pub placed_by: String,
    /// RFC 3339.
    pub placed_at: String,
    /// Only versions recorded at or after this time (RFC 3339); `None`: any.
    #[serde(default)]
    #[schema(required = true)]
    pub from: Option<String>,
    /// Only versions recorded at or before this time (RFC 3339); `None`: any.
    #[serde(default)]
    #[schema(required = true)]
    pub to: Option<String>,
}

impl Hold {
    /// Whether the hold covers this document at all (share and prefix).
    pub fn covers_document(&self, share: &str, path: &str) -> bool {
        self.share == share && path.starts_with(&self.prefix)
    }

    /// Whether the hold covers a version recorded at `at`.
    fn covers_time(&self, at: SystemTime) -> bool {
        let after = |bound: &Option<String>| bound.as_deref().and_then(parse_time);
        after(&self.from).is_none_or(|from| at >= from) && after(&self.to).is_none_or(|to| at <= to)
    }
}

/// The answer for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub version: u32,
    pub status: Status,
    /// When a `retained` version stops being kept by `retain_for` (`None`:
    /// forever, or kept by a keep rule, or not applicable).
    pub retain_until: Option<SystemTime>,
    /// When docvault saw it superseded (`None` for a current version).
    pub superseded_at: Option<SystemTime>,
    /// Why: which rule keeps it, which holds cover it, or why it is due.
    pub reasons: Vec<String>,
}

/// The first rule (in config order) whose shares and paths match.
pub fn rule_for<'a>(
    rules: &'a [RetentionRule],
    share: &str,
    path: &str,
) -> Option<&'a RetentionRule> {
    rules.iter().find(|r| {
        r.shares
            .as_ref()
            .is_none_or(|s| s.iter().any(|n| n == share))
            && r.paths
                .iter()
                .any(|p| globset::Glob::new(p).is_ok_and(|g| g.compile_matcher().is_match(path)))
    })
}

pub fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

/// Statuses and reasons of a document's versions (oldest first in, the same
/// order out). `holds` are the holds covering the document; pure: the same
/// input gives the same answer.
pub fn evaluate(
    versions: &[VersionRecord],
    rule: Option<&RetentionRule>,
    holds: &[Hold],
    now: SystemTime,
) -> Vec<Verdict> {
    let times: Vec<SystemTime> = versions
        .iter()
        .map(|v| parse_time(&v.at).unwrap_or(SystemTime::UNIX_EPOCH))
        .collect();
    let live = versions.last().is_some_and(|v| !v.is_deletion());
    let deleted_at = (!live).then(|| times.last().copied()).flatten();
    let kept = if live {
        keep_reasons(versions, &times, rule)
    } else {
        vec![Vec::new(); versions.len()]
    };
    versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let is_last = i + 1 == versions.len();
            let superseded_at = (!is_last).then(|| times[i + 1]).or(deleted_at);
            if live && is_last {
                return Verdict {
                    version: v.version,
                    status: Status::Current,
                    retain_until: None,
                    superseded_at: None,
                    reasons: vec!["the current version of a live document".into()],
                };
            }
            let mut reasons = kept[i].clone();
            let covering: Vec<&Hold> = holds
                .iter()
                .filter(|h| h.covers_document(&v.share, &v.path) && h.covers_time(times[i]))
                .collect();
            // The clock: from supersession for a live document, from the
            // deletion for a deleted one.
            let clock = if live { superseded_at } else { deleted_at };
            let (kept_by_time, retain_until) = match (rule.and_then(|r| r.retain_for), clock) {
                (None, _) => {
                    reasons.push(match rule {
                        Some(r) => format!("rule {:?} has no retain_for: kept forever", r.name),
                        None => "no retention rule applies: kept forever".into(),
                    });
                    (true, None)
                }
                (Some(d), Some(start)) => {
                    let until = start.checked_add(d).unwrap_or(far_future());
                    let name = &rule.expect("retain_for comes from a rule").name;
                    if now < until {
                        reasons.push(format!(
                            "rule {name:?}: retain_for {} after it was {}",
                            humantime::format_duration(d),
                            if live { "superseded" } else { "deleted" }
                        ));
                        (true, Some(until))
                    } else {
                        (false, Some(until))
                    }
                }
                (Some(_), None) => (true, None),
            };
            let status = if !kept[i].is_empty() || kept_by_time {
                Status::Retained
            } else if !covering.is_empty() {
                Status::Held
            } else {
                Status::Due
            };
            for h in &covering {
                reasons.push(format!("hold {}: {}", h.id, h.reason));
            }
            if status == Status::Due {
                reasons.push(format!(
                    "rule {:?}: retain_for ran out",
                    rule.map_or("", |r| r.name.as_str())
                ));
            }
            Verdict {
                version: v.version,
                status,
                retain_until: if kept[i].is_empty() {
                    retain_until
                } else {
                    None
                },
                superseded_at,
                reasons,
            }
        })
        .collect()
}

/// A version that may be disposed of, as the due list and the disposition
/// record show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DueVersion {
    pub share: String,
    pub path: String,
    pub version: u32,
    /// RFC 3339.
    #[schema(required = true)]
    pub superseded_at: Option<String>,
    /// The rule that made it due.
    pub policy: String,
    /// Bytes of content (0 for a deletion record).
    pub size: u64,
    pub sha256: String,
}

/// Every due version of the catalog (of one share, if given), in share,
/// path and version order.
pub fn due(
    catalog: &crate::catalog::Catalog,
    rules: &[RetentionRule],
    holds: &[Hold],
    share: Option<&str>,
    now: SystemTime,
) -> Vec<DueVersion> {
    let mut out = Vec::new();
    for (name, state) in catalog.shares() {
        if share.is_some_and(|s| s != name) {
            continue;
        }
        for (path, doc) in &state.docs {
            // Without a rule nothing is ever due.
            let Some(rule) = rule_for(rules, name, path) else {
                continue;
            };
            let covering: Vec<Hold> = holds
                .iter()
                .filter(|h| h.covers_document(name, path))
                .cloned()
                .collect();
            for (verdict, record) in evaluate(&doc.versions, Some(rule), &covering, now)
                .into_iter()
                .zip(&doc.versions)
            {
                if verdict.status == Status::Due {
                    out.push(DueVersion {
                        share: name.clone(),
                        path: path.clone(),
                        version: record.version,
                        superseded_at: verdict.superseded_at.map(rfc3339),
                        policy: rule.name.clone(),
                        size: if record.is_deletion() { 0 } else { record.size },
                        sha256: record.sha256.clone(),
                    });
                }
            }
        }
    }
    out
}

/// A time as the API writes it.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn far_future() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799) // 9999-12-31
}

/// For a live document: per version, the keep rules that keep it.
fn keep_reasons(
    versions: &[VersionRecord],
    times: &[SystemTime],
    rule: Option<&RetentionRule>,
) -> Vec<Vec<String>> {
    let mut reasons = vec![Vec::new(); versions.len()];
    let Some(rule) = rule else { return reasons };
    // Content versions, newest first.
    let newest_first: Vec<usize> = (0..versions.len())
        .rev()
        .filter(|&i| !versions[i].is_deletion())
        .collect();
    if let Some(n) = rule.keep_last {
        for &i in newest_first.iter().take(n as usize) {
            reasons[i].push(format!("rule {:?}: keep_last {n}", rule.name));
        }
    }
    let thinning: [(&str, Option<u32>, Bucket); 4] = [
        ("keep_hourly", rule.keep_hourly, hour),
        ("keep_daily", rule.keep_daily, day),
        ("keep_weekly", rule.keep_weekly, week),
        ("keep_monthly", rule.keep_monthly, month),
    ];
    for (name, n, bucket) in thinning {
        let Some(n) = n else { continue };
        // restic: walking from the newest, keep the newest version of each
        // bucket until n buckets are kept.
        let mut seen = BTreeSet::new();
        for &i in &newest_first {
            if seen.len() == n as usize {
                break;
            }
            if seen.insert(bucket(times[i])) {
                reasons[i].push(format!("rule {:?}: {name} {n}", rule.name));
            }
        }
    }
    reasons
}

/// The bucket (hour, day, ISO week, month) a time falls in.
type Bucket = fn(SystemTime) -> i64;

fn utc(t: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(t)
}

fn hour(t: SystemTime) -> i64 {
    utc(t).unix_timestamp().div_euclid(3600)
}

fn day(t: SystemTime) -> i64 {
    utc(t).unix_timestamp().div_euclid(86_400)
}

fn week(t: SystemTime) -> i64 {
    let d = utc(t);
    let (year, week, _) = d.to_iso_week_date();
    i64::from(year) * 100 + i64::from(week)
}

fn month(t: SystemTime) -> i64 {
    let d = utc(t);
    i64::from(d.year()) * 100 + i64::from(u8::from(d.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Event;
    use proptest::prelude::*;

    const H: u64 = 3600;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn record(version: u32, event: Event, secs: u64) -> VersionRecord {
        let mut r = VersionRecord::new("alpha", "plan.txt", version, event, 10, [0; 32]);
        r.at = humantime::format_rfc3339_millis(at(secs)).to_string();
        r
    }

    /// A document with versions recorded at these offsets (seconds); the
    /// last one is a deletion when `deleted`.
    fn doc(offsets: &[u64], deleted: bool) -> Vec<VersionRecord> {
        offsets
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let event = match (i, deleted && i + 1 == offsets.len()) {
                    (_, true) => Event::Deleted,
                    (0, _) => Event::Created,
                    _ => Event::Modified,
                };
                record(i as u32 + 1, event, s)
            })
            .collect()
    }

    fn rule() -> RetentionRule {
        RetentionRule {
            name: "records".into(),
            shares: None,
            paths: vec!["**".into()],
            keep_last: None,
            keep_hourly: None,
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
            retain_for: None,
            auto_dispose: None,
        }
    }

    fn hold(id: u64, prefix: &str) -> Hold {
        Hold {
            id,
            share: "alpha".into(),
            prefix: prefix.into(),
            reason: "litigation".into(),
            placed_by: "ada".into(),
            placed_at: "2026-01-01T00:00:00Z".into(),
            from: None,
            to: None,
        }
    }

    fn statuses(v: &[Verdict]) -> Vec<Status> {
        v.iter().map(|v| v.status).collect()
    }

    use Status::*;

    #[test]
    fn retain_for_counts_from_supersession_and_keep_last_keeps_the_newest() {
        let versions = doc(&[0, 10 * H, 20 * H, 30 * H], false);
        let r = RetentionRule {
            keep_last: Some(2),
            retain_for: Some(Duration::from_secs(15 * H)),
            ..rule()
        };
        // At 31h: v1 superseded at 10h (+15h = 25h: due), v2 superseded at
        // 20h (+15h = 35h: retained), v3 kept by keep_last, v4 current.
        let v = evaluate(&versions, Some(&r), &[], at(31 * H));
        assert_eq!(statuses(&v), [Due, Retained, Retained, Current]);
        assert_eq!(v[1].retain_until, Some(at(35 * H)));
        assert!(v[2].reasons[0].contains("keep_last 2"));
        assert_eq!(v[0].superseded_at, Some(at(10 * H)));
        assert!(v[0].reasons.iter().any(|r| r.contains("ran out")));
    }

    #[test]
    fn without_retain_for_superseded_versions_are_kept_forever() {
        let versions = doc(&[0, H, 2 * H], false);
        let v = evaluate(&versions, Some(&rule()), &[], at(1000 * H));
        assert_eq!(statuses(&v), [Retained, Retained, Current]);
        assert_eq!(v[0].retain_until, None);
        let none = evaluate(&versions, None, &[], at(1000 * H));
        assert_eq!(statuses(&none), [Retained, Retained, Current]);
        assert!(none[0].reasons[0].contains("no retention rule"));
    }

    #[test]
    fn a_deleted_document_is_kept_for_retain_for_after_the_deletion_then_due() {
        let versions = doc(&[0, H, 100 * H], true);
        let r = RetentionRule {
            keep_last: Some(5),
            retain_for: Some(Duration::from_secs(10 * H)),
            ..rule()
        };
        let before = evaluate(&versions, Some(&r), &[], at(105 * H));
        assert_eq!(statuses(&before), [Retained, Retained, Retained]);
        assert!(before.iter().all(|v| v.retain_until == Some(at(110 * H))));
        let after = evaluate(&versions, Some(&r), &[], at(111 * H));
        assert_eq!(statuses(&after), [Due, Due, Due]);
    }

    #[test]
    fn holds_protect_only_what_they_cover() {
        let versions = doc(&[0, H, 2 * H], false);
        let r = RetentionRule {
            retain_for: Some(Duration::from_secs(1)),
            ..rule()
        };
        let now = at(100 * H);
        let held = evaluate(&versions, Some(&r), &[hold(7, "plan")], now);
        assert_eq!(statuses(&held), [Held, Held, Current]);
        assert!(held[0].reasons.iter().any(|r| r == "hold 7: litigation"));
        let elsewhere = evaluate(&versions, Some(&r), &[hold(8, "other/")], now);
        assert_eq!(statuses(&elsewhere), [Due, Due, Current]);
        // A hold on a time range covers only the versions recorded in it.
        let ranged = Hold {
            from: Some(humantime::format_rfc3339(at(H / 2)).to_string()),
            ..hold(9, "")
        };
        let v = evaluate(&versions, Some(&r), &[ranged], now);
        assert_eq!(statuses(&v), [Due, Held, Current]);
    }

    #[test]
    fn a_version_stays_held_until_every_covering_hold_is_lifted() {
        let versions = doc(&[0, H], false);
        let r = RetentionRule {
            retain_for: Some(Duration::from_secs(1)),
            ..rule()
        };
        let now = at(10 * H);
        let both = [hold(1, ""), hold(2, "plan")];
        assert_eq!(
            statuses(&evaluate(&versions, Some(&r), &both, now)),
            [Held, Current]
        );
        assert_eq!(
            statuses(&evaluate(&versions, Some(&r), &both[1..], now)),
            [Held, Current]
        );
        assert_eq!(
            statuses(&evaluate(&versions, Some(&r), &[], now)),
            [Due, Current]
        );
    }

    #[test]
    fn thinning_keeps_the_newest_version_per_bucket_like_restic() {
        // Autosaves: 4 in hour 0, 3 in hour 1, 1 in hour 5; keep_hourly 2
        // keeps the newest of hour 5 (the current one) and of hour 1.
        let offsets = [60, 600, 1200, 1800, H + 60, H + 600, H + 1200, 5 * H];
        let versions = doc(&offsets, false);
        let r = RetentionRule {
            keep_hourly: Some(2),
            retain_for: Some(Duration::from_secs(1)),
            ..rule()
        };
        let v = evaluate(&versions, Some(&r), &[], at(10 * H));
        assert_eq!(
            statuses(&v),
            [Due, Due, Due, Due, Due, Due, Retained, Current]
        );
        let daily = RetentionRule {
            keep_daily: Some(1),
            keep_hourly: Some(3),
            retain_for: Some(Duration::from_secs(1)),
            ..rule()
        };
        let v = evaluate(&versions, Some(&daily), &[], at(10 * H));
        assert_eq!(
            statuses(&v),
            [Due, Due, Due, Retained, Due, Due, Retained, Current]
        );
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = vec![
            RetentionRule {
                name: "drafts".into(),
                paths: vec!["drafts/**".into()],
                ..rule()
            },
            RetentionRule {
                name: "beta-only".into(),
                shares: Some(vec!["beta".into()]),
                ..rule()
            },
            RetentionRule {
                name: "all".into(),
                ..rule()
            },
        ];
        assert_eq!(
            rule_for(&rules, "alpha", "drafts/a.txt").unwrap().name,
            "drafts"
        );
        assert_eq!(rule_for(&rules, "beta", "x.txt").unwrap().name, "beta-only");
        assert_eq!(rule_for(&rules, "alpha", "x.txt").unwrap().name, "all");
        assert!(rule_for(&rules[..2], "alpha", "x.txt").is_none());
    }

    fn arb_doc() -> impl Strategy<Value = (Vec<VersionRecord>, bool)> {
        (
            proptest::collection::vec(1u64..50 * H, 1..12),
            any::<bool>(),
        )
            .prop_map(|(gaps, deleted)| {
                let mut t = 0;
                let offsets: Vec<u64> = gaps
                    .iter()
                    .map(|g| {
                        t += g;
                        t
                    })
                    .collect();
                (doc(&offsets, deleted && offsets.len() > 1), deleted)
            })
    }

    fn arb_rule() -> impl Strategy<Value = RetentionRule> {
        (
            proptest::option::of(0u32..5),
            proptest::option::of(0u32..4),
            proptest::option::of(0u32..4),
            proptest::option::of(0u32..3),
            proptest::option::of(0u32..3),
            proptest::option::of(0u64..200 * H),
        )
            .prop_map(
                |(last, hourly, daily, weekly, monthly, retain)| RetentionRule {
                    keep_last: last,
                    keep_hourly: hourly,
                    keep_daily: daily,
                    keep_weekly: weekly,
                    keep_monthly: monthly,
                    retain_for: retain.map(Duration::from_secs),
                    ..rule()
                },
            )
    }

    fn arb_holds() -> impl Strategy<Value = Vec<Hold>> {
        proptest::collection::vec(
            (any::<bool>(), proptest::option::of(0u64..600 * H)).prop_map(|(matching, from)| {
                Hold {
                    from: from.map(|s| humantime::format_rfc3339(at(s)).to_string()),
                    ..hold(1, if matching { "plan" } else { "elsewhere" })
                }
            }),
            0..3,
        )
    }

    proptest! {
        #[test]
        fn current_and_held_are_never_due_and_keep_last_keeps_the_newest(
            (versions, _) in arb_doc(), r in arb_rule(), holds in arb_holds(), now in 0u64..1000 * H,
        ) {
            let v = evaluate(&versions, Some(&r), &holds, at(now));
            prop_assert_eq!(v.len(), versions.len());
            let live = !versions.last().unwrap().is_deletion();
            if live {
                prop_assert_eq!(v.last().unwrap().status, Current);
                let n = r.keep_last.unwrap_or(0) as usize;
                let content: Vec<usize> = (0..versions.len()).rev()
                    .filter(|&i| !versions[i].is_deletion()).take(n).collect();
                for i in content {
                    prop_assert!(matches!(v[i].status, Current | Retained), "keep_last: {:?}", v[i]);
                }
            }
            for (verdict, version) in v.iter().zip(&versions) {
                let covered = holds.iter().any(|h| h.covers_document(&version.share, &version.path)
                    && h.covers_time(parse_time(&version.at).unwrap()));
                if covered {
                    prop_assert!(verdict.status != Due, "held but due: {:?}", verdict);
                }
            }
        }

        #[test]
        fn adding_a_hold_only_moves_due_to_held(
            (versions, _) in arb_doc(), r in arb_rule(), holds in arb_holds(),
            extra in arb_holds(), now in 0u64..1000 * H,
        ) {
            let before = evaluate(&versions, Some(&r), &holds, at(now));
            let mut more = holds.clone();
            more.extend(extra);
            let after = evaluate(&versions, Some(&r), &more, at(now));
            for (b, a) in before.iter().zip(&after) {
                prop_assert!(b.status == a.status || (b.status == Due && a.status == Held),
                    "{:?} -> {:?}", b.status, a.status);
            }
        }

        #[test]
        fn time_moving_forward_only_makes_retained_versions_due_or_held(
            (versions, _) in arb_doc(), r in arb_rule(), holds in arb_holds(),
            now in 0u64..1000 * H, later in 0u64..1000 * H,
        ) {
            let before = evaluate(&versions, Some(&r), &holds, at(now));
            let after = evaluate(&versions, Some(&r), &holds, at(now + later));
            for (b, a) in before.iter().zip(&after) {
                let ok = b.status == a.status
                    || (b.status == Retained && matches!(a.status, Due | Held));
                prop_assert!(ok, "{:?} -> {:?}", b.status, a.status);
                if holds.is_empty() {
                    prop_assert!(a.status != Held);
                }
            }
        }

        #[test]
        fn evaluation_is_deterministic(
            (versions, _) in arb_doc(), r in arb_rule(), holds in arb_holds(), now in 0u64..1000 * H,
        ) {
            prop_assert_eq!(
                evaluate(&versions, Some(&r), &holds, at(now)),
                evaluate(&versions, Some(&r), &holds, at(now))
            );
        }
    }
}
