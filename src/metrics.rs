//! Metrics: what the daemon counts and times, for `GET /metrics`.
//!
//! One [`Metrics`] lives for the daemon's lifetime, shared in an `Arc` by the
//! stages that record into it (ingest counts versions and extraction
//! results and times commits and indexing; the API's middleware counts and
//! times requests). What the stages already keep in [`Progress`] (the settle
//! queue, the index lag, unreadable and too-large files) is read from there
//! at each scrape instead of being counted twice. There is no global
//! registry: tests build their own `Metrics`.
//!
//! Label values are bounded whatever clients send: a request's route is the
//! route *template* it matched (`/api/v1/shares/{share}/files/{*path}`, or
//! `unmatched`), never its raw path, and an unusual HTTP method is `other`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::catalog::Event;
use crate::ingest::Progress;

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Seconds from a settled batch reaching ingest to its archive commit.
const INGEST_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Seconds from an archive commit to the version being searchable (it
/// includes extraction, whose default timeout is 30 s).
const INDEX_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Seconds an API request takes until its response head.
const HTTP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    share: String,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The daemon's metric families and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    versions: Family<VersionLabels, Counter>,
    ingest_seconds: Histogram,
    index_seconds: Histogram,
    extractions: Family<StatusLabels, Counter>,
    http_requests: Family<RequestLabels, Counter>,
    http_seconds: HistogramFamily<RouteLabels>,
}

/// The two text formats `prometheus-client` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: what Prometheus asks for first.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4: for everything else (curl).
    Prometheus,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it accepts
    /// `application/openmetrics-text` (version 1.0.0 or unversioned),
    /// the Prometheus text format otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let wants_openmetrics = accept.unwrap_or_default().split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
            let param = |k: &str| params.iter().find(|(n, _)| n.trim() == k).map(|(_, v)| *v);
            media.eq_ignore_ascii_case("application/openmetrics-text")
                && param("version").is_none_or(|v| v.trim() == "1.0.0")
                && param("q").is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0))
        });
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

impl Default for Metrics {
    /// The recorded families only (no [`Progress`] behind them).
    fn default() -> Metrics {
        Metrics::build(None)
    }
}

impl Metrics {
    /// Every family, with the settle queue, index lag and skipped-file
    /// counters read from `progress` at each scrape.
    pub fn new(progress: Arc<Progress>) -> Metrics {
        Metrics::build(Some(progress))
    }

    fn build(progress: Option<Arc<Progress>>) -> Metrics {
        let mut registry = Registry::with_prefix("docvault");
        let versions = Family::default();
        registry.register(
            "versions",
            "Versions committed to the archive, by share and event",
            versions.clone(),
        );
        let ingest_seconds = Histogram::new(INGEST_BUCKETS);
        registry.register_with_unit(
            "ingest",
            "Time from a settled batch reaching ingest to its archive commit, per commit",
            Unit::Seconds,
            ingest_seconds.clone(),
        );
        let index_seconds = Histogram::new(INDEX_BUCKETS);
        registry.register_with_unit(
            "index",
            "Time from a version's archive commit to it being searchable (extraction, index commit and reader reload)",
            Unit::Seconds,
            index_seconds.clone(),
        );
        let extractions = Family::default();
        registry.register(
            "extractions",
            "Text extraction results, by status",
            extractions.clone(),
        );
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests, by route template, method and status",
            http_requests.clone(),
        );
        let http_seconds: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS));
        registry.register_with_unit(
            "http_request",
            "Time from an HTTP request to its response head, by route template",
            Unit::Seconds,
            http_seconds.clone(),
        );
        if let Some(progress) = progress {
            registry.register_collector(Box::new(ProgressCollector(progress)));
        }
        Metrics {
            registry,
            versions,
            ingest_seconds,
            index_seconds,
            extractions,
            http_requests,
            http_seconds,
        }
    }

    /// A version committed to the archive.
    pub fn version(&self, share: &str, event: Event) {
        let labels = VersionLabels {
            share: share.to_owned(),
            event: event.to_string(),
        };
        self.versions.get_or_create(&labels).inc();
    }

    /// One archive commit, `took` after its batch reached ingest.
    pub fn ingest_took(&self, took: Duration) {
        self.ingest_seconds.observe(took.as_secs_f64());
    }

    /// A version became searchable `took` after its archive commit.
    pub fn index_took(&self, took: Duration) {
        self.index_seconds.observe(took.as_secs_f64());
    }

    /// An extraction result, by its status word (`ok`, `failed`, ...).
    pub fn extraction(&self, status: &str) {
        let labels = StatusLabels {
            status: status.to_owned(),
        };
        self.extractions.get_or_create(&labels).inc();
    }

    /// An answered HTTP request. `route` is the matched route template, or
    /// `None` for a request that matched no route.
    pub fn request(
        &self,
        route: Option<&str>,
        method: &Method,
        status: StatusCode,
        took: Duration,
    ) {
        let route = route.unwrap_or(UNMATCHED).to_owned();
        let labels = RequestLabels {
            route: route.clone(),
            method: method_label(method),
            status: status.as_u16(),
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_seconds
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }

    /// Every family in `format`.
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)?
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?
            }
        }
        Ok(out)
    }
}

/// The method as a label: the standard ones by name, anything else `other`
/// (a client may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", |m| m.as_str())
}

/// Reads the counters the watch and ingest stages keep in [`Progress`].
#[derive(Debug)]
struct ProgressCollector(Arc<Progress>);

impl Collector for ProgressCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = &self.0;
        let gauges = [
            (
                "settle_queue",
                "Paths waiting to settle in the watch stage.",
                p.pending.load(Ordering::Relaxed),
            ),
            (
                "index_lag_versions",
                "Versions committed to the archive and not yet indexed (extraction pending).",
                p.extraction_pending.load(Ordering::Relaxed),
            ),
        ];
        // Registered families get the final full stop from the encoder; these are written as is.
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters = [
            (
                "unreadable_files",
                "Files that could not be read (retried at the next scan).",
                p.unreadable.load(Ordering::Relaxed),
            ),
            (
                "too_large_files",
                "Files skipped for being larger than watch.max_file_size.",
                p.too_large.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `# TYPE` lines of an exposition: family name → type.
    fn types(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
            .collect()
    }

    fn recorded() -> Metrics {
        let progress = Arc::new(Progress::default());
        progress.pending.store(3, Ordering::Relaxed);
        progress.extraction_pending.store(2, Ordering::Relaxed);
        progress.unreadable.store(1, Ordering::Relaxed);
        let metrics = Metrics::new(progress);
        metrics.version("alpha", Event::Created);
        metrics.version("alpha", Event::Created);
        metrics.version("alpha", Event::Deleted);
        metrics.ingest_took(Duration::from_millis(12));
        metrics.index_took(Duration::from_millis(40));
        metrics.extraction("ok");
        metrics.extraction("failed");
        metrics.request(
            Some("/api/v1/shares/{share}/files/{*path}"),
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(3),
        );
        metrics
    }

    #[test]
    fn openmetrics_has_every_family_with_its_type() {
        let text = recorded().encode(Format::OpenMetrics).unwrap();
        let expected = [
            ("docvault_versions", "counter"),
            ("docvault_ingest_seconds", "histogram"),
            ("docvault_index_seconds", "histogram"),
            ("docvault_extractions", "counter"),
            ("docvault_http_requests", "counter"),
            ("docvault_http_request_seconds", "histogram"),
            ("docvault_settle_queue", "gauge"),
            ("docvault_index_lag_versions", "gauge"),
            ("docvault_unreadable_files", "counter"),
            ("docvault_too_large_files", "counter"),
        ];
        let found = types(&text);
        for (name, kind) in expected {
            assert!(
                found.contains(&(name.to_owned(), kind.to_owned())),
                "no {kind} {name} in:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# UNIT docvault_ingest_seconds seconds\n"));
    }

    #[test]
    fn samples_carry_their_labels_and_values() {
        let text = recorded().encode(Format::OpenMetrics).unwrap();
        for line in [
            r#"docvault_versions_total{share="alpha",event="created"} 2"#,
            r#"docvault_versions_total{share="alpha",event="deleted"} 1"#,
            r#"docvault_extractions_total{status="failed"} 1"#,
            "docvault_ingest_seconds_count 1",
            "docvault_index_seconds_count 1",
            r#"docvault_ingest_seconds_bucket{le="0.025"} 1"#,
            r#"docvault_ingest_seconds_bucket{le="0.01"} 0"#,
            "docvault_settle_queue 3",
            "docvault_index_lag_versions 2",
            "docvault_unreadable_files_total 1",
            "docvault_too_large_files_total 0",
            r#"docvault_http_requests_total{route="/api/v1/shares/{share}/files/{*path}",method="GET",status="200"} 1"#,
            r#"docvault_http_request_seconds_count{route="/api/v1/shares/{share}/files/{*path}"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn prometheus_text_has_the_same_samples_without_eof() {
        let text = recorded().encode(Format::Prometheus).unwrap();
        assert!(text.contains("# TYPE docvault_versions_total counter\n"));
        assert!(text.contains("# TYPE docvault_ingest_seconds histogram\n"));
        assert!(
            text.lines()
                .any(|l| l == r#"docvault_versions_total{share="alpha",event="created"} 2"#),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn unmatched_routes_and_odd_methods_are_bounded_labels() {
        let metrics = Metrics::default();
        let odd = Method::from_bytes(b"BREW").unwrap();
        metrics.request(None, &odd, StatusCode::NOT_FOUND, Duration::ZERO);
        let text = metrics.encode(Format::OpenMetrics).unwrap();
        assert!(
            text.contains(
                r#"docvault_http_requests_total{route="unmatched",method="other",status="404"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn accept_header_picks_the_format() {
        let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
            application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus3)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=0.0.1")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Prometheus
        );
    }
}
