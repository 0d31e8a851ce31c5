//! Legal holds, stored in the archive under [`HOLDS_REF`] so they survive
//! restarts and travel with a copy of the archive.
//!
//! Each change is a commit whose tree holds the whole current list
//! (`holds.json`: the holds and the next id); the commit history is the
//! record of changes, and every change is also an audit event.

use git2::Repository;
use serde::{Deserialize, Serialize};

use crate::archive::ArchiveError;
use crate::retention::Hold;

/// The ref holding the current list of holds.
pub const HOLDS_REF: &str = "refs/docvault/holds";

const HOLDS_FILE: &str = "holds.json";

/// The stored state: the standing holds and the id the next one gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldList {
    pub next_id: u64,
    pub holds: Vec<Hold>,
}

impl HoldList {
    /// The holds covering a document.
    pub fn covering(&self, share: &str, path: &str) -> Vec<Hold> {
        self.holds
            .iter()
            .filter(|h| h.covers_document(share, path))
            .cloned()
            .collect()
    }
}

type Result<T> = std::result::Result<T, ArchiveError>;

fn git<T>(what: &str, r: std::result::Result<T, git2::Error>) -> Result<T> {
    r.map_err(|source| ArchiveError::Git {
        what: what.to_owned(),
        source,
    })
}

/// The holds stored in the archive (none if it has never had any).
pub fn load(repo: &Repository) -> Result<HoldList> {
    let Ok(head) = repo.refname_to_id(HOLDS_REF) else {
        return Ok(HoldList {
            next_id: 1,
            holds: Vec::new(),
        });
    };
    let commit = git("reading holds", repo.find_commit(head))?;
    let tree = git("reading holds", commit.tree())?;
    let entry = tree
        .get_name(HOLDS_FILE)
        .ok_or_else(|| ArchiveError::Record {
            commit: head,
            reason: format!("{HOLDS_FILE} missing from {HOLDS_REF}"),
        })?;
    let blob = git("reading holds", repo.find_blob(entry.id()))?;
    serde_json::from_slice(blob.content()).map_err(|e| ArchiveError::Record {
        commit: head,
        reason: format!("{HOLDS_FILE}: {e}"),
    })
}

/// Stores `list` as the new state, with `message` saying what changed. The
/// objects are synced before the ref moves (a power loss never leaves the
/// ref on a commit that is not on disk); the caller syncs the ref.
pub fn save(archive: &crate::archive::Archive, list: &HoldList, message: &str) -> Result<()> {
    let repo = archive.repo();
    let json = serde_json::to_vec_pretty(list).expect("holds serialize");
    let blob = git("writing holds", repo.blob(&json))?;
    let mut tree = git("writing holds", repo.treebuilder(None))?;
    git("writing holds", tree.insert(HOLDS_FILE, blob, 0o100644))?;
    let tree = git("writing holds", tree.write())?;
    let tree = git("writing holds", repo.find_tree(tree))?;
    let sig = git(
        "making signature",
        git2::Signature::now("docvault", "docvault@localhost"),
    )?;
    let parent = match repo.refname_to_id(HOLDS_REF) {
        Ok(id) => Some(git("reading holds", repo.find_commit(id))?),
        Err(_) => None,
    };
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit = git(
        "writing holds",
        repo.commit(None, &sig, &sig, message, &tree, &parents),
    )?;
    archive.sync()?;
    match parent {
        Some(p) => git(
            "moving the holds ref",
            repo.reference_matching(HOLDS_REF, commit, true, p.id(), "docvault: holds"),
        )?,
        None => git(
            "creating the holds ref",
            repo.reference(HOLDS_REF, commit, false, "docvault: holds"),
        )?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_round_trip_through_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = crate::archive::Archive::open_or_init(&tmp.path().join("a.git")).unwrap();
        let repo = archive.repo();
        assert_eq!(load(repo).unwrap().holds, []);
        let hold = Hold {
            id: 1,
            share: "alpha".into(),
            prefix: "contracts/".into(),
            reason: "dispute with supplier".into(),
            placed_by: "ada".into(),
            placed_at: "2026-11-26T05:00:00Z".into(),
            from: None,
            to: None,
        };
        let list = HoldList {
            next_id: 2,
            holds: vec![hold.clone()],
        };
        save(&archive, &list, "hold 1 added").unwrap();
        assert_eq!(load(repo).unwrap(), list);
        assert_eq!(list.covering("alpha", "contracts/a.pdf"), [hold]);
        assert!(list.covering("alpha", "plans/a.pdf").is_empty());
        assert!(list.covering("beta", "contracts/a.pdf").is_empty());
        let empty = HoldList {
            next_id: 2,
            holds: vec![],
        };
        save(&archive, &empty, "hold 1 removed").unwrap();
        assert_eq!(load(repo).unwrap(), empty);
    }
}
