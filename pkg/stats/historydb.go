package stats

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/statedb"
)

// HistoryFile is the metrics history's database in paths.state.
const HistoryFile = "metrics.db"

// HistoryPath is the history database of a state directory.
func HistoryPath(stateDir string) string { return filepath.Join(stateDir, HistoryFile) }

// historySchema is the history's schema, one migration per version (statedb applies them).
// Counters are stored as SQLite's signed 64-bit integers holding the uint64's bits (they are
// never compared in SQL), so nothing is lost; times are Unix nanoseconds. samples.id is
// AUTOINCREMENT, so ids grow with insertion and the row cap can keep the newest by id.
var historySchema = []string{
	`CREATE TABLE hosts (
		id  INTEGER PRIMARY KEY,
		uri TEXT NOT NULL UNIQUE
	);
	CREATE TABLE samples (
		id                     INTEGER PRIMARY KEY AUTOINCREMENT,
		host_id                INTEGER NOT NULL REFERENCES hosts(id),
		time_ns                INTEGER NOT NULL,
		uuid                   TEXT NOT NULL,
		name                   TEXT NOT NULL,
		state                  TEXT NOT NULL,
		run_id                 INTEGER,
		vcpus                  INTEGER NOT NULL,
		host_cpus              INTEGER NOT NULL,
		cpu_time_ns            INTEGER,
		memory_bytes           INTEGER NOT NULL,
		memory_rss_bytes       INTEGER,
		memory_available_bytes INTEGER,
		memory_usable_bytes    INTEGER,
		disk_devices           TEXT NOT NULL,
		nic_devices            TEXT NOT NULL,
		disk_read_bytes        INTEGER NOT NULL,
		disk_write_bytes       INTEGER NOT NULL,
		disk_read_requests     INTEGER NOT NULL,
		disk_write_requests    INTEGER NOT NULL,
		net_rx_bytes           INTEGER NOT NULL,
		net_tx_bytes           INTEGER NOT NULL,
		net_rx_packets         INTEGER NOT NULL,
		net_tx_packets         INTEGER NOT NULL
	);
	CREATE INDEX samples_time ON samples (time_ns);`,
}

// OpenHistory opens the history database at path (creating it unless readOnly); errors are
// statedb's, for statedb.Classify.
func OpenHistory(ctx context.Context, path string, readOnly bool) (*sql.DB, error) {
	return statedb.Open(ctx, path, historySchema, statedb.Options{ReadOnly: readOnly})
}

// Retention bounds the history: samples older than MaxAge before the newest record go, then
// the oldest beyond MaxRows (0: no cap).
type Retention struct {
	MaxAge  time.Duration
	MaxRows int64
}

// RecordOutcome is what one RecordHistory did.
type RecordOutcome struct {
	Inserted int   // rows added
	Pruned   int64 // rows removed by the retention
	Rows     int64 // rows kept, all hosts (see RecordHistory)
}

func nullInt(p *uint64) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// RecordHistory appends rows (of the host uri) and prunes by keep, in one transaction: a
// concurrent recorder waits for it (statedb's immediate write lock and busy timeout) and never
// sees half of it.
func RecordHistory(ctx context.Context, db *sql.DB, uri string, now time.Time, rows []HistoryRow, keep Retention) (RecordOutcome, error) {
	var out RecordOutcome
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, `INSERT INTO hosts (uri) VALUES (?) ON CONFLICT (uri) DO NOTHING`, uri); err != nil {
		return out, err
	}
	var host int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM hosts WHERE uri = ?`, uri).Scan(&host); err != nil {
		return out, err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO samples (host_id, time_ns, uuid, name, state, run_id, vcpus, host_cpus,
		cpu_time_ns, memory_bytes, memory_rss_bytes, memory_available_bytes, memory_usable_bytes, disk_devices, nic_devices,
		disk_read_bytes, disk_write_bytes, disk_read_requests, disk_write_requests, net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return out, err
	}
	defer ins.Close()
	for _, r := range rows {
		var run any
		if r.RunID != nil {
			run = int64(*r.RunID)
		}
		if _, err := ins.ExecContext(ctx, host, r.Time.UnixNano(), r.UUID, r.Name, r.State, run, r.VCPUs, r.HostCPUs,
			nullInt(r.CPUTimeNanoseconds), int64(r.MemoryBytes), nullInt(r.MemoryRSSBytes), nullInt(r.MemoryAvailableBytes), nullInt(r.MemoryUsableBytes),
			r.DiskDevices, r.NICDevices, int64(r.DiskReadBytes), int64(r.DiskWriteBytes), int64(r.DiskReadRequests), int64(r.DiskWriteRequests),
			int64(r.NetRxBytes), int64(r.NetTxBytes), int64(r.NetRxPackets), int64(r.NetTxPackets)); err != nil {
			return out, err
		}
		out.Inserted++
	}
	if keep.MaxAge > 0 {
		res, err := tx.ExecContext(ctx, `DELETE FROM samples WHERE time_ns < ?`, now.Add(-keep.MaxAge).UnixNano())
		if err != nil {
			return out, err
		}
		n, _ := res.RowsAffected()
		out.Pruned += n
	}
	if keep.MaxRows > 0 {
		// ids grow with insertion (AUTOINCREMENT) and are contiguous but for the holes pruning
		// by age leaves, so this keeps at most the newest MaxRows.
		res, err := tx.ExecContext(ctx, `DELETE FROM samples WHERE id <= (SELECT max(id) FROM samples) - ?`, keep.MaxRows)
		if err != nil {
			return out, err
		}
		n, _ := res.RowsAffected()
		out.Pruned += n
	}
	// Not count(*): that reads the whole table, 0.1 s at 1.5 million rows, at every record.
	// Ids are contiguous but for holes age pruning leaves when records arrived out of time
	// order, so the span of ids is the row count: two index lookups (a single SELECT of both
	// max and min would scan; SQLite looks one up only when it is alone).
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT max(id) FROM samples) - (SELECT min(id) FROM samples) + 1, 0)`).Scan(&out.Rows); err != nil {
		return out, err
	}
	return out, tx.Commit()
}

// LoadHistory reads the rows of host uri recorded in [since, until], in time order.
func LoadHistory(ctx context.Context, db *sql.DB, uri string, since, until time.Time) ([]HistoryRow, error) {
	var out []HistoryRow
	err := scanHistory(ctx, db, uri, since, until, nil, func(r *HistoryRow) {
		var kept HistoryRow
		new(rowValues).keep(&kept, r) // the row and its pointers are reused by the scan
		out = append(out, kept)
	})
	return out, err
}

// SummariseStoredHistory is SummariseHistory of what LoadHistory would return, without holding
// the rows: it summarises them as they are read (a month of a host's records can be millions).
// With match, only VMs that had a matching name in the window are read (SQLite finds them, so
// a month of one VM does not decode a month of all of them).
func SummariseStoredHistory(ctx context.Context, db *sql.DB, uri string, since, until time.Time, match func(name string) bool) ([]model.VMHistory, error) {
	hs := newHistorySummary()
	if err := scanHistory(ctx, db, uri, since, until, match, hs.add); err != nil {
		return nil, err
	}
	return hs.result(), nil
}

// scanHistory calls fn with each row of host uri in [since, until] in time order. The row is
// reused between calls (copy it to keep it); its strings are interned, so reading millions of
// rows allocates for each distinct UUID, name and device list once, not per row.
func scanHistory(ctx context.Context, db *sql.DB, uri string, since, until time.Time, match func(string) bool, fn func(*HistoryRow)) error {
	var host int64
	switch err := db.QueryRowContext(ctx, `SELECT id FROM hosts WHERE uri = ?`, uri).Scan(&host); {
	case errors.Is(err, sql.ErrNoRows):
		return nil // never recorded
	case err != nil:
		return err
	}
	where := `host_id = ? AND time_ns >= ? AND time_ns <= ?`
	args := []any{host, since.UnixNano(), until.UnixNano()}
	if match != nil {
		uuids, err := matchingVMs(ctx, db, where, args, match)
		if err != nil || len(uuids) == 0 {
			return err
		}
		where += ` AND uuid IN (?` + strings.Repeat(`, ?`, len(uuids)-1) + `)`
		args = append(args, uuids...)
	}
	rs, err := db.QueryContext(ctx, `SELECT time_ns, uuid, name, state, run_id, vcpus, host_cpus,
		cpu_time_ns, memory_bytes, memory_rss_bytes, memory_available_bytes, memory_usable_bytes, disk_devices, nic_devices,
		disk_read_bytes, disk_write_bytes, disk_read_requests, disk_write_requests, net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets
		FROM samples WHERE `+where+` ORDER BY time_ns, id`, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	interned := map[string]string{}
	intern := func(b sql.RawBytes) string {
		if s, ok := interned[string(b)]; ok { // string(b) in a map index does not allocate
			return s
		}
		s := string(b)
		interned[s] = s
		return s
	}
	var (
		r                         HistoryRow
		ns                        int64
		uuid, name, state, dd, nd sql.RawBytes
		run                       sql.NullInt64
		cpu, rss, avail, use      sql.NullInt64
		c                         [9]int64
		runID                     int
		cpuV, rssV, availV, useV  uint64
	)
	for rs.Next() {
		if err := rs.Scan(&ns, &uuid, &name, &state, &run, &r.VCPUs, &r.HostCPUs, &cpu, &c[0], &rss, &avail, &use,
			&dd, &nd, &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8]); err != nil {
			return err
		}
		r.Time = time.Unix(0, ns)
		r.UUID, r.Name, r.State, r.DiskDevices, r.NICDevices = intern(uuid), intern(name), intern(state), intern(dd), intern(nd)
		r.RunID = nil
		if run.Valid {
			runID = int(run.Int64)
			r.RunID = &runID
		}
		r.CPUTimeNanoseconds, r.MemoryRSSBytes = unsigned(cpu, &cpuV), unsigned(rss, &rssV)
		r.MemoryAvailableBytes, r.MemoryUsableBytes = unsigned(avail, &availV), unsigned(use, &useV)
		r.MemoryBytes = uint64(c[0])
		r.DiskReadBytes, r.DiskWriteBytes, r.DiskReadRequests, r.DiskWriteRequests = uint64(c[1]), uint64(c[2]), uint64(c[3]), uint64(c[4])
		r.NetRxBytes, r.NetTxBytes, r.NetRxPackets, r.NetTxPackets = uint64(c[5]), uint64(c[6]), uint64(c[7]), uint64(c[8])
		fn(&r)
	}
	return rs.Err()
}

// matchingVMs lists the UUIDs of VMs recorded under a name match accepts.
func matchingVMs(ctx context.Context, db *sql.DB, where string, args []any, match func(string) bool) ([]any, error) {
	rs, err := db.QueryContext(ctx, `SELECT DISTINCT uuid, name FROM samples WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var uuids []any
	seen := map[string]bool{}
	for rs.Next() {
		var uuid, name string
		if err := rs.Scan(&uuid, &name); err != nil {
			return nil, err
		}
		if !seen[uuid] && match(name) {
			seen[uuid] = true
			uuids = append(uuids, uuid)
		}
	}
	return uuids, rs.Err()
}

// unsigned is n's bits as a uint64 in *into, or nil.
func unsigned(n sql.NullInt64, into *uint64) *uint64 {
	if !n.Valid {
		return nil
	}
	*into = uint64(n.Int64)
	return into
}
