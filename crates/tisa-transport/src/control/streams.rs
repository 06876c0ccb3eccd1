//! `tisa health`'s view of a node's JetStream streams: per stream, its
//! configured replicas, its Raft leader and each other replica's state, as
//! the broker's stream info reports them, and when that is a warning.

use crate::convert::Wire;
use crate::error::DecodeError;
use crate::proto;

/// One stream's replication (from `$JS.API.STREAM.INFO`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamHealth {
    /// The stream (`TISA_KR_DOWN`, `TISA_KR_DEADLETTER`, …).
    pub name: String,
    /// Replicas the stream is configured with.
    pub replicas: u32,
    /// The broker cluster's name (empty: a single server).
    pub cluster: String,
    /// The server that leads the stream's Raft group (empty: none).
    pub leader: String,
    /// The other replicas.
    pub peers: Vec<StreamPeer>,
    /// Why the stream info could not be read (empty: it could).
    pub error: String,
}

/// A replica other than the leader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamPeer {
    /// The server's name.
    pub name: String,
    /// Caught up with the leader.
    pub current: bool,
    /// Considered offline by the group.
    pub offline: bool,
    /// Operations behind the leader.
    pub lag: u64,
    /// Since it was last seen, in ms.
    pub active_ms: u64,
}

impl StreamHealth {
    /// Replicas that hold the stream now: the leader and every current,
    /// online peer (a single-server stream: 1, unless unreadable).
    pub fn current(&self) -> u32 {
        if !self.error.is_empty() {
            return 0;
        }
        if self.cluster.is_empty() && self.peers.is_empty() {
            return 1;
        }
        let leader = u32::from(!self.leader.is_empty());
        leader + self.peers.iter().filter(|p| p.current && !p.offline).count() as u32
    }

    /// What an operator should know, if anything: the info could not be
    /// read, the stream has no leader, or fewer replicas are current than
    /// configured (one more lost server may lose or stop the stream).
    pub fn warning(&self) -> Option<String> {
        if !self.error.is_empty() {
            return Some(format!("stream {}: cannot read its state: {}", self.name, self.error));
        }
        if !self.cluster.is_empty() && self.leader.is_empty() {
            return Some(format!("stream {}: no leader (the cluster cannot store to it)", self.name));
        }
        let (current, wanted) = (self.current(), self.replicas.max(1));
        if current < wanted {
            let behind: Vec<String> = self
                .peers
                .iter()
                .filter(|p| !p.current || p.offline)
                .map(|p| format!("{}{}", p.name, if p.offline { " offline" } else { " behind" }))
                .collect();
            return Some(format!(
                "stream {}: {current} of {wanted} replicas current ({})",
                self.name,
                if behind.is_empty() { "a replica is missing".to_owned() } else { behind.join(", ") }
            ));
        }
        None
    }
}

impl Wire for StreamHealth {
    type Proto = proto::StreamHealth;

    fn to_proto(&self) -> Self::Proto {
        proto::StreamHealth {
            name: self.name.clone(),
            replicas: self.replicas,
            cluster: self.cluster.clone(),
            leader: self.leader.clone(),
            peers: self
                .peers
                .iter()
                .map(|p| proto::StreamPeer {
                    name: p.name.clone(),
                    current: p.current,
                    offline: p.offline,
                    lag: p.lag,
                    active_ms: p.active_ms,
                })
                .collect(),
            error: self.error.clone(),
        }
    }

    fn from_proto(s: Self::Proto) -> Result<Self, DecodeError> {
        Ok(StreamHealth {
            name: s.name,
            replicas: s.replicas,
            cluster: s.cluster,
            leader: s.leader,
            peers: s
                .peers
                .into_iter()
                .map(|p| StreamPeer {
                    name: p.name,
                    current: p.current,
                    offline: p.offline,
                    lag: p.lag,
                    active_ms: p.active_ms,
                })
                .collect(),
            error: s.error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, current: bool, offline: bool) -> StreamPeer {
        StreamPeer { name: name.into(), current, offline, lag: 0, active_ms: 10 }
    }

    fn r3(peers: Vec<StreamPeer>) -> StreamHealth {
        StreamHealth {
            name: "TISA_KR_DOWN".into(),
            replicas: 3,
            cluster: "tisa-kr".into(),
            leader: "tisa-kr-1".into(),
            peers,
            error: String::new(),
        }
    }

    #[test]
    fn a_stream_below_its_replica_count_is_a_warning_and_a_full_one_is_not() {
        let full = r3(vec![peer("tisa-kr-2", true, false), peer("tisa-kr-3", true, false)]);
        assert_eq!(full.current(), 3);
        assert_eq!(full.warning(), None);
        let one_down = r3(vec![peer("tisa-kr-2", true, false), peer("tisa-kr-3", false, true)]);
        assert_eq!(one_down.current(), 2);
        let w = one_down.warning().unwrap();
        assert!(w.contains("2 of 3") && w.contains("tisa-kr-3 offline"), "{w}");
        let leaderless = StreamHealth { leader: String::new(), ..full.clone() };
        assert!(leaderless.warning().unwrap().contains("no leader"));
        let single = StreamHealth { name: "S".into(), replicas: 1, ..StreamHealth::default() };
        assert_eq!(single.warning(), None, "a single-server stream is what it was configured to be");
        let unreadable = StreamHealth { error: "timed out".into(), ..full.clone() };
        assert!(unreadable.warning().unwrap().contains("timed out"));
        assert_eq!(StreamHealth::from_proto(one_down.to_proto()).unwrap(), one_down);
    }
}
