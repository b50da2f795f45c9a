import HilbertSupport

/// A directory entry as a backend stores it: `name` in `parent`, its listing position `id`.
struct Edge {
    var id: Int64
    var ino: Ino
    var type: UInt8
    var parent: Ino
    var name: [UInt8]
}

/// What a write transaction that just ended did, as far as its backend can tell: when nobody
/// else wrote meanwhile, the process's caches (MetaStore) take its changes instead of being
/// dropped.
struct WriteEnd {
    /// The change version (`changeVersion`) just before this transaction's commit and after
    /// it; nil when unknown (rolled back, outcome settled later, or not reported).
    var versions: (before: Int64, after: Int64)?
    /// Every change it made to rows a process caches, in order; nil when unknown.
    var changes: [RowChange]?

    static let unknown = WriteEnd(versions: nil, changes: nil)
}

/// One change of a write transaction to the rows MetaStore caches (nodes, entries, content).
enum RowChange {
    /// A node inserted or rewritten whole.
    case node(Attr)
    case nodeGone(Ino)
    /// `MetaBackend.touchNode`.
    case touched(Ino, nlinkDelta: Int64, time: Timespec, modified: Bool)
    case parent(Ino, Ino)
    case staged(Ino, Bool)
    case entry(parent: Ino, name: [UInt8], ino: Ino)
    case entryGone(parent: Ino, name: [UInt8])
    /// Inline bytes, a symlink target or block references.
    case content(Ino)
    /// A node inserted: it has no content rows and no staging row yet.
    case newNode(Ino)
    case inlineLength(Ino, Int?)
    case block(Ino, BlockRef)
    case blockGone(Ino, index: UInt32)
    case stagingRow(Ino, (file: String, owner: String)?)
}

/// What the process's caches know of a row (`MetaBackend.optimisticTransaction`).
enum CachedRow {
    case node(Attr)
    /// An entry and its node (its listing position unknown: writes address it by name).
    case entry(Edge, Attr)
    /// An entry the caches do not hold: assumed absent (the name's insert checks it).
    case entryAbsent
    case content(inlineLength: Int?, blocks: [BlockRef], staging: (file: String, owner: String)?)
}

/// A row the policy is about to read (`MetaBackend.readTogether`).
enum RowRead: Hashable {
    case node(Ino)
    /// The entry `name` in `parent` and the node it names: answers `edge` and `node`.
    case entry(Ino, [UInt8])
    /// What removing the node the entry names would remove with it: answers `blocks`,
    /// `inlineRowLength` and `stagingRow` of that node.
    case entryContent(Ino, [UInt8])
    case staging(Ino)
    case inlineLength(Ino)
    /// Answers `inlineRow`.
    case inlineRow(Ino)
    case blocks(Ino)
    case changeVersion
    /// A page of a listing: answers `edges(parent, afterID:, limit:)`.
    case entries(Ino, afterID: Int64, limit: Int)
    /// The same page with its entries' nodes: answers `edgesWithNodes(parent, afterID:, limit:)`.
    case entriesWithNodes(Ino, afterID: Int64, limit: Int)
}

/// A page of a listing with each entry's node (`MetaBackend.edgesWithNodes`): one array per
/// column, the k-th entry in each. (As one array of rows, each row holding a name and a node,
/// every row read was a copy through the runtime's value witnesses: a tenth of a fresh
/// `ls -l` of 10,000 entries.)
struct ListedPage {
    /// The change version the rows are current at.
    var version: Int64
    /// Fewer rows than the statement asked for (which may be fewer than the caller asks for:
    /// a page asked for ahead): the listing ends with this page.
    var atEnd = false
    var ids: [Int64] = []
    var names: [[UInt8]] = []
    var inos: [Ino] = []
    var types: [UInt8] = []
    /// nil: an entry whose node row is missing (a damaged volume; listed, not cached).
    var attrs: [Attr?] = []

    init(version: Int64, capacity: Int) {
        self.version = version
        ids.reserveCapacity(capacity)
        names.reserveCapacity(capacity)
        inos.reserveCapacity(capacity)
        types.reserveCapacity(capacity)
        attrs.reserveCapacity(capacity)
    }

    var count: Int { ids.count }

    /// In listing order (by id), whatever order the backend's rows came in.
    mutating func sortByID() {
        if zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }) { return }
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        ids = order.map { ids[$0] }
        names = order.map { names[$0] }
        inos = order.map { inos[$0] }
        types = order.map { types[$0] }
        attrs = order.map { attrs[$0] }
    }

    mutating func append(id: Int64, name: [UInt8], ino: Ino, type: UInt8, attr: Attr?) {
        ids.append(id)
        names.append(name)
        inos.append(ino)
        types.append(type)
        attrs.append(attr)
    }
}

/// What a metadata backend provides: rows stored and found, inside the transaction the policy
/// layer (`MetaStore`) has opened. Every rule — permissions, flags, limits, times, link counts —
/// is checked once, in `MetaStore`; a backend decides nothing. The groups move here one at a
/// time (docs/dev/metadata-backends.md); those not yet here are still SQL in `MetaStore`.
protocol MetaBackend: AnyObject {
    // MARK: the session (this process's connection) and its transactions

    /// Where the metadata lives, for messages (never a secret).
    var location: String { get }
    /// The explanation of the most recent failure.
    var lastError: HilbertError? { get }
    /// Run `body` in a transaction; calls inside it join it. `write`: take the write lock at
    /// the start (a write transaction); a throw rolls everything back.
    func transaction<T>(write: Bool, _ body: () throws(Errno) -> T) throws(Errno) -> T
    /// 0 outside any transaction.
    var transactionDepth: Int { get }
    /// The write transaction that just failed may have committed all the same: its COMMIT
    /// was sent and whether it landed could not be learnt (the connection broke, and so did
    /// the check). False after every other failure, which changed nothing.
    var commitOutcomeUnknown: Bool { get }
    var inWriteTransaction: Bool { get }
    /// A number that changes when another session commits (cache validation).
    func changeVersion() throws(Errno) -> Int64
    /// Called after each of this session's write transactions ends (commit or rollback).
    func setWriteEndHandler(_ handler: @escaping (WriteEnd) -> Void)
    func close()
    /// This node's change counter for the volume, shared by the processes using it here: a
    /// process whose caches were validated at the current value may answer from them for a
    /// short while without asking the backend (`ChangeEpoch.unavailable` when there is none).
    func makeChangeEpoch() -> ChangeEpoch
    /// Space kept in reserve beside the metadata, released when its file system is full so
    /// that a removal can still be recorded; nil when the metadata is not in a local file.
    func makeSpaceReserve() -> SpaceReserve?
    /// In a forked child: forget (leak) the parent's connection; the next call reconnects.
    func abandonAfterFork()
    /// Fork: hold what the backend's own threads use across fork() (see MetaStore.beforeFork).
    func beforeFork()
    func afterForkInParent()
    /// A hint: large write transactions follow one another (an import) until called with
    /// false. A backend with a log it copies into place now and then (SQLite's WAL) may do
    /// that less often meanwhile.
    func setBulkWrites(_ on: Bool)

    /// A hint, inside a transaction: the policy is about to read these rows. A backend whose
    /// every read is a round trip (PostgreSQL) fetches them together, in one, and answers the
    /// reads that follow from them until the transaction writes; a local one does nothing.
    func readTogether(_ reads: [RowRead]) throws(Errno)
    /// A hint, inside a read transaction: a later transaction will probably read these rows
    /// (the next page of a listing). A backend whose reads are round trips sends the question
    /// with the end of this transaction and does not wait: the server answers it while the
    /// process works, and that transaction's `readTogether` of the same rows takes the answer.
    /// The answer is dropped when this process writes first. A local backend does nothing.
    func readAhead(_ reads: [RowRead])
    /// Run a write transaction optimistically (a backend whose reads are round trips; others
    /// run `body` as `transaction(write: true)` does): its `readTogether` reads are answered by
    /// `rows` — the caches of the process, current as of change version `version` — instead of
    /// the server, and the commit checks on the server that the version is still `version`
    /// and that no name it assumed absent exists. Throws `MetaStore.conflict`, having changed
    /// nothing, when a read is not in the caches or the check fails: then run it as usual.
    func optimisticTransaction<T>(version: Int64, rows: @escaping (RowRead) -> CachedRow?,
                                  _ body: () throws(Errno) -> T) throws(Errno) -> T
    /// How long (ns) answers validated against the backend may be reused by calls that accept
    /// another node's change showing late (stat, not open): the attribute cache timeout. 0
    /// where no other node shares the metadata.
    var attributeCacheNanoseconds: UInt64 { get }

    // MARK: nodes (one row per inode: Attr)

    /// The node row; nil when there is none.
    func node(_ ino: Ino) throws(Errno) -> Attr?
    func insertNode(_ attr: Attr) throws(Errno)
    /// Rewrite every column of an existing node.
    func updateNode(_ attr: Attr) throws(Errno)
    func deleteNode(_ ino: Ino) throws(Errno)
    /// nlink += `nlinkDelta`, ctime = `time`, and with `modified` mtime = `time` too.
    func touchNode(_ ino: Ino, nlinkDelta: Int64, time: Timespec, modified: Bool) throws(Errno)
    /// A directory's physical parent.
    func setParent(_ ino: Ino, _ parent: Ino) throws(Errno)
    /// The `parent` column; nil when the node does not exist.
    func parentOf(_ ino: Ino) throws(Errno) -> Ino?

    // MARK: edges (directory entries; listed in creation order, cookie = id + 2)

    /// The entry `name` in `parent`.
    func edge(_ parent: Ino, _ name: [UInt8]) throws(Errno) -> Edge?
    /// The entry `name` in `parent` with its node, in one lookup; nil when absent.
    func child(_ parent: Ino, _ name: [UInt8]) throws(Errno) -> Attr?
    /// `type` is the DT_* value.
    func insertEdge(_ parent: Ino, _ name: [UInt8], _ ino: Ino, type: UInt8) throws(Errno)
    func deleteEdge(_ edge: Edge) throws(Errno)
    /// Point the entry at another node.
    func setEdgeTarget(_ edge: Edge, _ ino: Ino, type: UInt8) throws(Errno)
    /// Move the entry (rename).
    func moveEdge(_ edge: Edge, to parent: Ino, name: [UInt8]) throws(Errno)
    func hasEdges(_ parent: Ino) throws(Errno) -> Bool
    /// Entries of `parent` with id above `afterID`, in id order, at most `limit`.
    func edges(_ parent: Ino, afterID: Int64, limit: Int) throws(Errno) -> [(id: Int64, name: [UInt8], ino: Ino, type: UInt8)]
    /// The page `edges` answers, each entry with its node, read with the change version: where
    /// every read is a round trip, a listing then also fills the caches that a `stat` of each
    /// entry reads (as NFS's READDIRPLUS), instead of a read-ahead round trip per 1,024 of them
    /// after it. nil where a listing does not carry nodes (a local backend: a lookup costs
    /// no round trip, and a listing that nobody stats would pay for them).
    func edgesWithNodes(_ parent: Ino, afterID: Int64, limit: Int) throws(Errno) -> ListedPage?
    /// One entry naming `ino` (for a directory, its only one); nil when none does.
    func edgeNaming(_ ino: Ino) throws(Errno) -> (parent: Ino, name: [UInt8])?
    /// Whether a lookup costs a round trip (then whole paths are looked up with `walk`).
    var remoteLookups: Bool { get }
    /// Read-ahead for path resolution: from directory `base`, the node of each of `names` in
    /// turn, as far as the entries exist, with the change version they are current at, in one
    /// lookup: `nodes[0]` is the base, `nodes[k]` the node named `names[k - 1]`. Decides
    /// nothing (permissions, symlinks, ".." are the resolver's).
    func walk(_ base: Ino, _ names: [[UInt8]]) throws(Errno) -> (version: Int64, nodes: [Attr])
    /// Read-ahead for storms: the entries of `parent` from `name` on (listing order), at most
    /// `limit`, each with its node. A backend whose reads are round trips reads the change
    /// version with them and tells it to `version` before the first row.
    func childrenFrom(_ parent: Ino, name: [UInt8], limit: Int, version: (Int64) -> Void,
                      _ row: ([UInt8], Attr) -> Void) throws(Errno)
    /// The same walk, for entries that have an inline row: the bytes and their checksum.
    func inlineRowsFrom(_ parent: Ino, name: [UInt8], limit: Int, _ row: (Ino, [UInt8], UInt32?) -> Void) throws(Errno)

    // MARK: extended attributes

    /// The value of `name` on `ino`, nil when it has none.
    func xattr(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> [UInt8]?
    /// Create or replace.
    func putXattr(_ ino: Ino, _ name: [UInt8], _ value: [UInt8]) throws(Errno)
    /// Remove; false when there was none.
    func deleteXattr(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> Bool
    /// The names on `ino`, in byte order.
    func xattrNames(_ ino: Ino) throws(Errno) -> [[UInt8]]
    /// Remove all of them (the node is being destroyed).
    func deleteXattrs(_ ino: Ino) throws(Errno)
    /// Every attribute of each of `inos` (a page of a listing being exported), in (ino,
    /// name) order, names compared as bytes.
    func xattrs(of inos: [Ino]) throws(Errno) -> [(ino: Ino, name: [UInt8], value: [UInt8])]

    // MARK: symbolic links

    /// The target of symlink `ino`, nil when it has none.
    func symlinkTarget(_ ino: Ino) throws(Errno) -> [UInt8]?
    func putSymlinkTarget(_ ino: Ino, _ target: [UInt8]) throws(Errno)
    func deleteSymlinkTarget(_ ino: Ino) throws(Errno)

    // MARK: counters (inodes, bytes, next inode and object numbers)

    /// Add `delta` to the counter `name` and return its new value; EIO when there is no such
    /// counter (a damaged volume).
    func addToCounter(_ name: String, _ delta: Int64) throws(Errno) -> Int64
    /// Add `delta` to the counter `name` without reading it back (may be sent with the commit).
    func bumpCounter(_ name: String, _ delta: Int64) throws(Errno)
    /// How many inode numbers a process takes from `next_ino` at a time (1: dense numbers).
    var inodeBatch: Int { get }
    /// The counter's value (0 when absent).
    func counterValue(_ name: String) throws(Errno) -> Int64
    /// Every counter.
    func allCounters() throws(Errno) -> [(name: String, value: Int64)]

    // MARK: file content: inline bytes, or block references (extents: a block alone in its
    // object, or in a pack shared with other files' blocks)

    /// The inline row of `ino`: its bytes and their CRC-32C (nil for rows of older releases).
    func inlineRow(_ ino: Ino) throws(Errno) -> (data: [UInt8], crc: UInt32?)?
    /// The length of the inline row, nil when there is none (no checksum read).
    func inlineRowLength(_ ino: Ino) throws(Errno) -> Int?
    func putInlineRow(_ ino: Ino, _ data: [UInt8], crc: UInt32) throws(Errno)
    func deleteInlineRow(_ ino: Ino) throws(Errno)
    /// The block references of `ino`, by index.
    func blocks(_ ino: Ino) throws(Errno) -> [BlockRef]
    /// Create or replace the reference at `block.index`.
    func putBlock(_ ino: Ino, _ block: BlockRef) throws(Errno)
    func deleteBlock(_ ino: Ino, index: UInt32) throws(Errno)
    func deleteBlocks(_ ino: Ino) throws(Errno)
    /// Raw bytes of the non-hole blocks of `ino`.
    func storedBlockBytes(_ ino: Ino) throws(Errno) -> UInt64
    /// Every referenced object id (holes excluded), ascending, streamed; a pack's id once per
    /// block in it, or once.
    func forEachReferencedObjectID(_ body: (UInt64) -> Void) throws(Errno)
    /// Record a pack object just written (its blocks' rows are put in the same transaction).
    func insertPack(_ pack: PackRow) throws(Errno)
    /// When no block points into pack `objectID` any more: delete its `hl_pack` row, record
    /// the object in hl_delobj and count it out of `objects`; returns the object released.
    /// Nothing when a block still points into it, or it is no pack. A backend whose reads are
    /// round trips sends this with the transaction's other writes, unanswered, and returns
    /// nil (the object is deleted from the store by `hilbert flush` or gc then).
    func releasePackIfUnreferenced(_ objectID: UInt64) throws(Errno) -> DeletedObject?
    /// Pack rows with ids above `after`, ascending, at most `limit` (dump, compaction).
    func packRows(after: UInt64, limit: Int) throws(Errno) -> [PackRow]
    /// The stored bytes of the blocks that still point into each of `packs`.
    func packLiveBytes(_ packs: [UInt64]) throws(Errno) -> [UInt64: UInt64]

    // MARK: staging rows (node-local files holding data not yet committed)

    /// The staging row of `ino`: its file and who registered it ('' for older releases).
    func stagingRow(_ ino: Ino) throws(Errno) -> (file: String, owner: String)?
    /// Create or replace; `created` is the wall-clock second.
    func putStagingRow(_ ino: Ino, file: String, owner: String, created: Int64) throws(Errno)
    func deleteStagingRow(_ ino: Ino) throws(Errno)
    /// Every staging row, by inode.
    func allStagingRows() throws(Errno) -> [(Ino, String)]
    func stagingRowCount() throws(Errno) -> Int
    /// The node's `staged` column.
    func setStaged(_ ino: Ino, _ staged: Bool) throws(Errno)

    // MARK: uploads in flight (object ids a commit is uploading; gc leaves them alone)

    func insertUploadBatch(first: UInt64, count: Int, commit: UInt64, owner: String, touched: Int64) throws(Errno)
    /// Refresh every batch of `commit`.
    func touchUploads(commit: UInt64, touched: Int64) throws(Errno)
    func deleteUploads(commit: UInt64) throws(Errno)
    /// Every batch, by first id.
    func uploadBatches() throws(Errno) -> [UploadBatch]

    // MARK: objects to delete from the store

    /// Record objects no longer referenced (a repeated id is recorded once).
    func recordDeletedObjects(_ objects: [DeletedObject]) throws(Errno)
    /// Recorded objects with ids above `after` that are due by `dueBy` (wall seconds),
    /// ascending, at most `limit`.
    func deletedObjects(after: UInt64, limit: Int, dueBy: Int64) throws(Errno) -> [DeletedObject]
    /// The store no longer has them.
    func forgetDeletedObjects(_ ids: [UInt64]) throws(Errno)
    /// How many are recorded, their stored bytes, how many are not due by `now` (wall
    /// seconds), and the latest due time.
    func deletedObjectTotals(now: Int64) throws(Errno) -> PendingDeletionTotals

    // MARK: cluster locks (leases on flock/OFD/POSIX locks; docs/FORMAT.md "hl_lock")
    //
    // Rows only: which locks conflict, when a row counts as expired and what a process holds
    // are decided in `MetaStore+ClusterLocks.swift`. Times are the server's clock, in ms,
    // so that nodes whose clocks differ agree on expiry.

    /// Processes of several nodes share this volume's metadata, so that locks must be
    /// recorded here to exclude across nodes. False for SQLite (one node): then none of the
    /// calls below is ever made.
    var sharedBetweenNodes: Bool { get }
    /// Every row on `ino` (expired ones too), and the server's clock now.
    func clusterLockRows(_ ino: Ino) throws(Errno) -> (nowMs: Int64, rows: [ClusterLockRow])
    /// Replace the rows of (`owner`, `kind`) on `ino` by `ranges` (none: delete them).
    func putClusterLockRows(_ ino: Ino, owner: ClusterLockOwner, kind: ClusterLockKind, _ ranges: [ClusterLockRange],
                            expiresMs: Int64) throws(Errno)
    /// Delete the rows on `ino` that expired before `nowMs`.
    func deleteExpiredClusterLocks(_ ino: Ino, nowMs: Int64) throws(Errno)
    /// Delete every row of process `proc`, or only those on `ino` and with `handle`.
    func deleteClusterLocks(proc: String, ino: Ino?, handle: Int64?) throws(Errno)
    /// Every row of process `proc` now expires `ttlMs` after the server's clock now; returns
    /// how many rows there were.
    func renewClusterLocks(proc: String, ttlMs: Int64) throws(Errno) -> Int

    // MARK: whole-volume walks and bulk loading (`hilbert dump`, `hilbert load`)
    //
    // Each walk returns one page of a table in key order, continuing after the key given
    // (keyset paging), so a dump holds one page at a time; a dump calls them inside one read
    // transaction (one snapshot). A load writes rows with their original keys, in write
    // transactions of bounded size, into a volume made by `MetaStore.createForLoad` (no
    // settings but the `loading` marker, no root node), and writes the settings last.
    // docs/FORMAT.md, "Dump format".

    /// Node rows with ino above `afterIno`, ascending, at most `limit`.
    func nodes(afterIno: Ino, limit: Int) throws(Errno) -> [Attr]
    /// Directory entries of every directory with id above `afterID`, ascending by id, at most
    /// `limit`.
    func allEdges(afterID: Int64, limit: Int) throws(Errno) -> [(id: Int64, parent: Ino, name: [UInt8], ino: Ino, type: UInt8)]
    /// Symlink targets with ino above `afterIno`, ascending, at most `limit`.
    func symlinkRows(afterIno: Ino, limit: Int) throws(Errno) -> [(ino: Ino, target: [UInt8])]
    /// Extended attributes after (`afterIno`, `afterName`) in (ino, name) order, names
    /// compared as bytes (memcmp), at most `limit`. Start with (0, []).
    func xattrRows(afterIno: Ino, afterName: [UInt8], limit: Int) throws(Errno) -> [(ino: Ino, name: [UInt8], value: [UInt8])]
    /// Inline rows with ino above `afterIno`, ascending, at most `limit`: bytes and CRC-32C
    /// (nil for rows of older releases).
    func inlineRows(afterIno: Ino, limit: Int) throws(Errno) -> [(ino: Ino, data: [UInt8], crc: UInt32?)]
    /// Block references after (`afterIno`, `afterIndex`) in (ino, index) order, holes
    /// (object id 0) included, at most `limit`. Start with (0, 0).
    func blockRows(afterIno: Ino, afterIndex: UInt32, limit: Int) throws(Errno) -> [(ino: Ino, block: BlockRef)]
    // (Objects to delete are paged by `deletedObjects(after:limit:)` above.)

    /// Insert a directory entry with the id it had in the dumped volume. The backend's own id
    /// allocation must continue above every id inserted this way (`bulkLoadFinished`).
    func insertEdge(id: Int64, _ parent: Ino, _ name: [UInt8], _ ino: Ino, type: UInt8) throws(Errno)
    /// Set counter `name` to `value`, creating it when absent.
    func setCounter(_ name: String, _ value: Int64) throws(Errno)
    /// Create or replace one settings row (`hl_setting`: the volume format, and the `loading`
    /// marker of a load in progress).
    func putSetting(_ name: String, _ value: String) throws(Errno)
    func deleteSetting(_ name: String) throws(Errno)
    /// `insertNode`, `insertEdge` and `putBlock` for many rows (an import's batch): one
    /// statement each where every statement costs the server a parse and a plan (PostgreSQL);
    /// a local backend runs the single-row ones. The caches learn of the blocks, nothing of
    /// the nodes and edges (the transaction's changes are unknown where the backend reports
    /// them).
    func insertNodes(_ nodes: [Attr]) throws(Errno)
    func insertEdges(_ edges: [(parent: Ino, name: [UInt8], ino: Ino, type: UInt8)]) throws(Errno)
    func putBlocks(_ blocks: [(ino: Ino, block: BlockRef)]) throws(Errno)
    /// `deleteInlineRow` for many nodes (files moved into a pack), in one statement where
    /// statements cost a parse and a plan; the caches learn of each.
    func deleteInlineRows(_ inos: [Ino]) throws(Errno)
    /// `inlineRow` and `blocks` of many nodes (a page being exported): those that have them.
    func inlineRows(of inos: [Ino]) throws(Errno) -> [Ino: (data: [UInt8], crc: UInt32?)]
    func blocks(of inos: [Ino]) throws(Errno) -> [Ino: [BlockRef]]

    /// Called once, in a load's last write transaction, after every row is in: bring the
    /// backend's own allocators past the loaded keys (PostgreSQL: the edge id sequence;
    /// SQLite: nothing, its rowids continue above the largest).
    func bulkLoadFinished() throws(Errno)
}
