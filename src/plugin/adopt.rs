//! `cloudstor volume mark-cluster`: makes a volume a Swarm cluster volume again.
//!
//! Cluster volumes created before the two protocols were told apart carry no `managed_by`,
//! so they count as VolumeDriver volumes: the VolumeDriver plugin lists them and the CSI
//! plugin refuses to publish or delete them. Marking one writes its `cluster/NAME` entry
//! first (from then on the VolumeDriver plugin no longer lists it) and then its record,
//! replaced in one rename; a run cut off between the two is finished by running it again.

use super::error::Error;
use super::lease;
use super::store::{ManagedBy, Store, Volume, replace_file};

/// What `mark_cluster_volume` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Marked {
    /// It was a VolumeDriver volume and is now a cluster volume.
    Now,
    /// It already was one; its `cluster/` entry is there.
    Already,
}

/// Marks `volume` (found in `store`) as a Swarm cluster volume, unless a node has it
/// mounted: its containers there hold it through the VolumeDriver plugin, which would refuse
/// their Mounts from then on.
pub fn mark_cluster_volume(store: &Store, mut volume: Volume, node: &str) -> Result<Marked, Error> {
    let root = store.root_of(&volume);
    let name = volume.meta.name.clone();
    if volume.meta.managed_by == ManagedBy::Swarm {
        root.mark_cluster(&name)?;
        return Ok(Marked::Already);
    }
    let holders = lease::holders(&volume.dir)?;
    if !holders.is_empty() {
        let nodes: Vec<String> = holders.into_iter().map(|lease| lease.node).collect();
        return Err(Error::InUseElsewhere {
            volume: name,
            nodes: nodes.join(", "),
        });
    }
    root.mark_cluster(&name)?;
    volume.meta.managed_by = ManagedBy::Swarm;
    rewrite_record(&volume, node)?;
    Ok(Marked::Now)
}

/// Replaces the volume's record in one rename, from a temporary named by this node, so
/// another node never reads half a record and two nodes never share a temporary.
fn rewrite_record(volume: &Volume, node: &str) -> Result<(), Error> {
    let temporary = volume.dir.join(format!(".volume.json.{node}"));
    let json = serde_json::to_vec_pretty(&volume.meta).expect("metadata serialises");
    replace_file(&volume.record_path(), &temporary, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::name::VolumeName;
    use crate::plugin::options::PerformanceMode;
    use crate::plugin::store::tests::store_over;

    fn store_in(dir: &std::path::Path) -> Store {
        store_over(&[("gp", PerformanceMode::GeneralPurpose, dir)])
    }

    fn found(store: &Store, name: &str) -> Volume {
        let name = VolumeName::parse(name).unwrap();
        store.find(&name).unwrap().unwrap()
    }

    fn record(store: &Store, name: &str) -> String {
        std::fs::read_to_string(found(store, name).record_path()).unwrap()
    }

    #[test]
    fn an_old_cluster_volume_becomes_one_again_and_a_second_run_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let name = VolumeName::parse("db").unwrap();
        store.create(&name, None, "n1").unwrap();
        assert_eq!(
            store.roots()[0].list_managed_by(ManagedBy::Swarm).unwrap(),
            []
        );

        let marked = mark_cluster_volume(&store, found(&store, "db"), "n1").unwrap();
        assert_eq!(marked, Marked::Now);
        let swarm = store.roots()[0].list_managed_by(ManagedBy::Swarm).unwrap();
        assert_eq!(swarm.len(), 1);
        assert!(record(&store, "db").contains(r#""managed_by": "swarm""#));
        let volume = store.find(&name).unwrap().unwrap();
        assert!(volume.managed_by(ManagedBy::Swarm).is_ok());

        let before = record(&store, "db");
        let again = mark_cluster_volume(&store, found(&store, "db"), "n1").unwrap();
        assert_eq!(again, Marked::Already);
        assert_eq!(record(&store, "db"), before);
    }

    #[test]
    fn a_mounted_volume_is_refused_naming_the_node_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let name = VolumeName::parse("db").unwrap();
        let volume = store.create(&name, None, "n1").unwrap();
        let root = &store.roots()[0];
        let until = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        lease::beat(&root.path, "n2", until).unwrap();
        lease::hold(&volume.dir, "n2").unwrap();
        let before = record(&store, "db");

        let err = mark_cluster_volume(&store, found(&store, "db"), "n1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mounted on node(s) n2"), "{err}");
        assert_eq!(record(&store, "db"), before);
        assert_eq!(root.list_managed_by(ManagedBy::Swarm).unwrap(), []);
    }
}
