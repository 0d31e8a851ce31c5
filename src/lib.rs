//! docvault watches project-office shares and keeps every version of every
//! document in a git archive.
//!
//! The pipeline: [`watch`] turns file-system events (or polling, on network
//! mounts) and reconciliation scans into settled paths; [`ingest`], the one
//! writer, reads each settled file, streams it into the [`archive`] (a bare git
//! repository, a branch per share, a note with the metadata of every version)
//! and updates the in-memory [`catalog`]; the [`api`] serves shares, documents,
//! history and any version's bytes over HTTP; the [`cli`] is a client of that
//! API plus the offline tools; [`dispose`] removes versions physically from
//! the archive and the index when their retention ended; [`packs`] merges the
//! small packs that commits leave. [`daemon`] wires the
//! stages together; [`metrics`] counts and times what they do for
//! `GET /metrics`.

pub mod alloc;
pub mod api;
pub mod archive;
pub mod audit;
pub mod background;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod dispose;
pub mod extract;
pub mod holds;
pub mod index;
pub mod ingest;
pub mod memory;
pub mod metrics;
pub mod packs;
pub mod retention;
pub mod watch;
