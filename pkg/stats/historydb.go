package stats

import (
	"context"
	"database/sql"
	"path/filepath"
	"time"

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
	Rows     int64 // rows kept, all hosts
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
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM samples`).Scan(&out.Rows); err != nil {
		return out, err
	}
	return out, tx.Commit()
}

// LoadHistory reads the rows of host uri recorded in [since, until].
func LoadHistory(ctx context.Context, db *sql.DB, uri string, since, until time.Time) ([]HistoryRow, error) {
	rs, err := db.QueryContext(ctx, `SELECT s.time_ns, s.uuid, s.name, s.state, s.run_id, s.vcpus, s.host_cpus,
		s.cpu_time_ns, s.memory_bytes, s.memory_rss_bytes, s.memory_available_bytes, s.memory_usable_bytes, s.disk_devices, s.nic_devices,
		s.disk_read_bytes, s.disk_write_bytes, s.disk_read_requests, s.disk_write_requests, s.net_rx_bytes, s.net_tx_bytes, s.net_rx_packets, s.net_tx_packets
		FROM samples s JOIN hosts h ON h.id = s.host_id
		WHERE h.uri = ? AND s.time_ns >= ? AND s.time_ns <= ? ORDER BY s.time_ns, s.id`, uri, since.UnixNano(), until.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []HistoryRow
	for rs.Next() {
		var (
			r                    HistoryRow
			ns                   int64
			run                  sql.NullInt64
			cpu, rss, avail, use sql.NullInt64
			c                    [9]int64
		)
		if err := rs.Scan(&ns, &r.UUID, &r.Name, &r.State, &run, &r.VCPUs, &r.HostCPUs, &cpu, &c[0], &rss, &avail, &use,
			&r.DiskDevices, &r.NICDevices, &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8]); err != nil {
			return nil, err
		}
		r.Time = time.Unix(0, ns)
		if run.Valid {
			id := int(run.Int64)
			r.RunID = &id
		}
		r.CPUTimeNanoseconds, r.MemoryRSSBytes, r.MemoryAvailableBytes, r.MemoryUsableBytes = unsigned(cpu), unsigned(rss), unsigned(avail), unsigned(use)
		r.MemoryBytes = uint64(c[0])
		r.DiskReadBytes, r.DiskWriteBytes, r.DiskReadRequests, r.DiskWriteRequests = uint64(c[1]), uint64(c[2]), uint64(c[3]), uint64(c[4])
		r.NetRxBytes, r.NetTxBytes, r.NetRxPackets, r.NetTxPackets = uint64(c[5]), uint64(c[6]), uint64(c[7]), uint64(c[8])
		out = append(out, r)
	}
	return out, rs.Err()
}

func unsigned(n sql.NullInt64) *uint64 {
	if !n.Valid {
		return nil
	}
	v := uint64(n.Int64)
	return &v
}
