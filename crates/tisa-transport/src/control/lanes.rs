//! What a node's paths ahead of its commit did (`tisa health`): the hub's
//! deliveries before its commit, and the real-time lane for missile tracks
//! with its track streams.

/// The hub's deliveries published before its commit (`tisa_node::early`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EarlyForwardHealth {
    /// Whether the hub does (`TISA_EARLY_FORWARD=off` turns it off; never at KR or JP).
    pub enabled: bool,
    /// Batches of link messages applied before their commit.
    pub batches: u64,
    /// Deliveries published before their commit.
    pub deliveries: u64,
}

/// The real-time lane for missile tracks (`tisa_core::Lane`): early track
/// copies judged and passed ahead of the node's group commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackLaneHealth {
    /// Whether the lane runs (`TISA_TRACK_LANE=off` turns it off).
    pub enabled: bool,
    /// Forwarded by the hub or shown by a recipient.
    pub passed: u64,
    /// Left to the committed path (seen already, to be held, no grant…).
    pub left: u64,
    /// Dropped for failing a check (fail-closed; the committed path refuses
    /// the stream's copy with a rejection notice and a dead letter).
    pub dropped: u64,
    /// Track windows committed: the stream copies of updates the lane
    /// passed, committed a window at a time (`tisa_node::windows`).
    pub windows: u64,
    /// The stream copies those windows took.
    pub windowed: u64,
    /// Whether the track streams' copies are taken behind the lane, in
    /// batches (`TISA_TRACK_PACED=off`: as each is stored); lane on or off.
    pub stream_paced: bool,
    /// The track streams' copies taken since start.
    pub stream_copies: u64,
    /// The hand-overs to the node they came in (one a copy, unpaced).
    pub stream_takes: u64,
}

/// Notices to an originator (progress notices, receipts) held back to go
/// together, after the deliveries (`tisa_node::notices`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoticeHealth {
    /// Whether they are (`TISA_COALESCE_NOTICES=off` sends each at once).
    pub coalesced: bool,
    /// Notices held back since start.
    pub held: u64,
    /// Times the held notices went (together).
    pub sends: u64,
}
