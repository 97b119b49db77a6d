// Package journal is hvctl's operations journal: one SQLite record per command that changed
// something (who, where, the command line with secrets redacted, the targets and how each went,
// the exit code and the duration), plus the lifecycle events `vmctl events --journal` saw that
// no hvctl command explains. `hvctl history` reads it.
//
// A record is written in two steps: Begin when the command starts (so a command that is killed
// still leaves a record, with no exit code) and Finish when it ends. The database is opened with
// pkg/statedb (WAL, busy timeout), so many hvctl processes append at once without losing or
// corrupting records.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/config"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/statedb"
	"github.com/hyper-nixos/hvctl/pkg/units"
)

// FileName is the journal's file under the state directory.
const FileName = "journal.db"

// Sources of records.
const (
	SourceHvctl    = "hvctl"
	SourceExternal = "external"
)

// migrations[i] takes the schema from version i to i+1 (statedb applies them).
var migrations = []string{`
CREATE TABLE records (
	id          INTEGER PRIMARY KEY,
	time_ns     INTEGER NOT NULL,          -- start, Unix nanoseconds UTC
	source      TEXT    NOT NULL,          -- hvctl | external
	duration_ms INTEGER,                   -- NULL while running (or killed)
	uid         INTEGER,                   -- NULL when unknown
	user        TEXT    NOT NULL DEFAULT '',
	sudo_user   TEXT    NOT NULL DEFAULT '',
	host        TEXT    NOT NULL DEFAULT '',
	uri         TEXT    NOT NULL DEFAULT '',
	command     TEXT    NOT NULL,
	argv        TEXT    NOT NULL DEFAULT '[]', -- JSON array, secrets redacted
	kind        TEXT    NOT NULL DEFAULT '',
	exit_code   INTEGER,                   -- NULL while running (or killed)
	error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX records_time ON records(time_ns);
CREATE TABLE targets (
	record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	name      TEXT    NOT NULL,
	ok        INTEGER,                     -- NULL while running
	action    TEXT    NOT NULL DEFAULT '',
	error     TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (record_id, seq)
);
CREATE INDEX targets_name ON targets(name);
`}

// BusyTimeout is how long a journal write waits for other writers. Records are a few hundred
// bytes and take the lock for well under a millisecond, so hundreds of processes fit in it;
// a database held locked for longer (someone's open sqlite3 shell) makes the journal skip
// rather than hold the command.
const BusyTimeout = 2 * time.Second

// Options tune Open.
type Options struct {
	Now       func() time.Time // the clock; time.Now when nil
	ReadOnly  bool             // for `hvctl history`: never creates or writes
	Retention time.Duration    // > 0: Begin removes records older than this, now and then (RetentionSlack)
}

// RetentionSlack is how far past Retention the oldest record may get before a Begin prunes:
// a tenth of the retention, at most a day. Pruning is then occasional (about once a day with
// the default 365d) instead of a DELETE in every command's write, and the records between
// Retention and Retention+slack are what `hvctl history --prune` finds to remove at once.
func RetentionSlack(retention time.Duration) time.Duration {
	return min(retention/10, 24*time.Hour)
}

// Journal is an open journal database.
type Journal struct {
	db   *sql.DB
	path string
	opt  Options
}

// Open opens the journal at path (creating it unless read-only).
func Open(ctx context.Context, path string, opt Options) (*Journal, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	db, err := statedb.Open(ctx, path, migrations, statedb.Options{BusyTimeout: BusyTimeout, ReadOnly: opt.ReadOnly})
	if err != nil {
		return nil, err
	}
	// One connection: the PRAGMA below holds for every statement.
	db.SetMaxOpenConns(1)
	if !opt.ReadOnly {
		// A command appends about ten WAL pages; checkpointing every AutoCheckpoint pages keeps
		// the WAL that the next process scans at open small, and the fsyncs of a checkpoint
		// shared among a few dozen commands (see Abandon).
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", AutoCheckpoint)); err != nil {
			db.Close()
			return nil, err
		}
	}
	return &Journal{db: db, path: path, opt: opt}, nil
}

// AutoCheckpoint is the WAL size, in pages, at which a write checkpoints.
const AutoCheckpoint = 256

// Abandon is Close for a process that exits right after: it leaves the connection for the
// exit to end. Closing the last connection to a WAL database checkpoints it and deletes the
// WAL, two or three fsyncs that cost more than everything else the journal does (a few
// milliseconds on a virtual disk); an exiting process's connection ends like one of a process
// that crashed, which SQLite's WAL is made for: what was committed stays, nothing is
// corrupted, and the next writer carries on with the WAL (checkpointing at AutoCheckpoint).
func (j *Journal) Abandon() {}

// Close closes the database.
func (j *Journal) Close() error { return j.db.Close() }

// Path is the database file.
func (j *Journal) Path() string { return j.path }

// Dir is the directory the journal of a user lives in. Root, and anyone whose paths.state is
// configured (file, HVCTL_PATHS_STATE), use paths.state (/var/lib/hvctl); another user with the
// default paths.state, which they cannot write, keeps a journal of their own in
// $XDG_STATE_HOME/hvctl (~/.local/state/hvctl), the XDG place for state that is not config.
func Dir(l *config.Loaded, uid int, getenv func(string) string) string {
	i := slices.IndexFunc(l.Settings, func(s config.Setting) bool { return s.Key == "paths.state" })
	if uid == 0 || i < 0 || l.Settings[i].Source != "default" {
		return l.Config.Paths.State
	}
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "hvctl")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "hvctl")
	}
	return l.Config.Paths.State
}

// OpenFor opens, creating it when needed, the journal the commands of user uid write under
// configuration l (Dir), with its retention: what `vmctl events --journal` appends to.
func OpenFor(ctx context.Context, l *config.Loaded, uid int, getenv func(string) string, now func() time.Time) (*Journal, error) {
	retention, err := units.ParseAge(l.Config.Journal.Retention)
	if err != nil {
		return nil, fmt.Errorf("journal.retention: %w", err)
	}
	return Open(ctx, filepath.Join(Dir(l, uid, getenv), FileName), Options{Now: now, Retention: retention})
}

// Entry is what is known of a command when it starts.
type Entry struct {
	Time     time.Time
	Source   string // SourceHvctl when empty
	UID      *int
	User     string
	SudoUser string
	Host     string
	URI      string
	Command  string   // "vmctl start"
	Argv     []string // already redacted (Redact)
	Kind     string   // what the targets are: vm, network, image …
	Targets  []string // the targets as given (names or patterns); Finish may replace them
}

// Outcome is how a command ended.
type Outcome struct {
	Duration time.Duration
	ExitCode int
	Error    string
	// Results, when the command reported per-target results, replace the targets of Begin;
	// otherwise each target of Begin takes the command's outcome.
	Results []model.JournalTarget
}

// Begin appends the record of a starting command and returns its id. With Options.Retention,
// when the oldest record is older than that plus RetentionSlack, it first removes the records
// older than Retention, in the same transaction.
func (j *Journal) Begin(ctx context.Context, e Entry) (int64, error) {
	if e.Source == "" {
		e.Source = SourceHvctl
	}
	argv, err := json.Marshal(nonNil(e.Argv))
	if err != nil {
		return 0, err
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if j.opt.Retention > 0 {
		cutoff := j.opt.Now().Add(-j.opt.Retention)
		var oldest sql.NullInt64 // NULL: no records; the time index answers min() at once
		if err := tx.QueryRowContext(ctx, `SELECT min(time_ns) FROM records`).Scan(&oldest); err != nil {
			return 0, err
		}
		if oldest.Valid && oldest.Int64 < cutoff.Add(-RetentionSlack(j.opt.Retention)).UnixNano() {
			if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE time_ns < ?`, cutoff.UnixNano()); err != nil {
				return 0, err
			}
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO records (time_ns, source, uid, user, sudo_user, host, uri, command, argv, kind)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Source, nullInt(e.UID), e.User, e.SudoUser, e.Host, e.URI, e.Command, string(argv), e.Kind)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	for i, t := range e.Targets {
		if _, err := tx.ExecContext(ctx, `INSERT INTO targets (record_id, seq, name) VALUES (?, ?, ?)`, id, i, t); err != nil {
			return 0, err
		}
	}
	return id, tx.Commit()
}

// Finish completes the record id with the command's outcome.
func (j *Journal) Finish(ctx context.Context, id int64, o Outcome) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.ExecContext(ctx, `UPDATE records SET duration_ms = ?, exit_code = ?, error = ? WHERE id = ?`,
		o.Duration.Milliseconds(), o.ExitCode, o.Error, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("journal record %d is gone (pruned meanwhile?)", id)
	}
	if o.Results != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM targets WHERE record_id = ?`, id); err != nil {
			return err
		}
		for i, r := range o.Results {
			if _, err := tx.ExecContext(ctx, `INSERT INTO targets (record_id, seq, name, ok, action, error) VALUES (?, ?, ?, ?, ?, ?)`,
				id, i, r.Name, r.OK, r.Action, r.Error); err != nil {
				return err
			}
		}
	} else {
		ok := o.ExitCode == 0
		if _, err := tx.ExecContext(ctx, `UPDATE targets SET ok = ?, error = ? WHERE record_id = ?`, ok, o.Error, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Filter selects records for Query.
type Filter struct {
	VM     string    // a VM name or shell-style pattern: records whose targets (kind vm) match
	Since  time.Time // records that started at or after this
	User   string    // the user or the sudo user
	Failed bool      // only records whose exit code is not 0
	Limit  int       // the newest Limit records; 0: all
}

// Query returns the records the filter selects, oldest first.
func (j *Journal) Query(ctx context.Context, f Filter) ([]model.JournalRecord, error) {
	var where []string
	var args []any
	if f.VM != "" {
		// GLOB is SQLite's shell-style match, case-sensitive like VM names.
		where = append(where, `r.kind = 'vm' AND EXISTS (SELECT 1 FROM targets t WHERE t.record_id = r.id AND t.name GLOB ?)`)
		args = append(args, f.VM)
	}
	if !f.Since.IsZero() {
		where = append(where, `r.time_ns >= ?`)
		args = append(args, f.Since.UnixNano())
	}
	if f.User != "" {
		where = append(where, `(r.user = ? OR r.sudo_user = ?)`)
		args = append(args, f.User, f.User)
	}
	if f.Failed {
		where = append(where, `r.exit_code <> 0`)
	}
	q := `SELECT r.id, r.time_ns, r.source, r.duration_ms, r.uid, r.user, r.sudo_user, r.host, r.uri, r.command, r.argv, r.kind, r.exit_code, r.error FROM records r`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY r.time_ns DESC, r.id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := j.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.JournalRecord{}
	byID := map[int64]int{}
	for rows.Next() {
		var r model.JournalRecord
		var ns int64
		var dur, uid, exit sql.NullInt64
		var argv string
		if err := rows.Scan(&r.ID, &ns, &r.Source, &dur, &uid, &r.User, &r.SudoUser, &r.Host, &r.URI, &r.Command, &argv, &r.Kind, &exit, &r.Error); err != nil {
			return nil, err
		}
		r.Time = time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
		if dur.Valid {
			s := float64(dur.Int64) / 1000
			r.DurationSeconds = &s
		}
		if uid.Valid {
			u := int(uid.Int64)
			r.UID = &u
		}
		if exit.Valid {
			c := int(exit.Int64)
			r.ExitCode = &c
		}
		if err := json.Unmarshal([]byte(argv), &r.Argv); err != nil {
			return nil, fmt.Errorf("journal record %d: argv: %w", r.ID, err)
		}
		r.Targets = []model.JournalTarget{}
		byID[r.ID] = len(out)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := j.loadTargets(ctx, out, byID); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

func (j *Journal) loadTargets(ctx context.Context, recs []model.JournalRecord, byID map[int64]int) error {
	if len(recs) == 0 {
		return nil
	}
	// The ids are the newest ones selected; one query for their targets (ids are integers we
	// read, so inlining them is safe and avoids SQLite's bound-parameter limit).
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, fmt.Sprint(r.ID))
	}
	rows, err := j.db.QueryContext(ctx, `SELECT record_id, name, ok, action, error FROM targets WHERE record_id IN (`+strings.Join(ids, ",")+`) ORDER BY record_id, seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var t model.JournalTarget
		var ok sql.NullBool
		if err := rows.Scan(&id, &t.Name, &ok, &t.Action, &t.Error); err != nil {
			return err
		}
		t.OK = ok.Valid && ok.Bool
		recs[byID[id]].Targets = append(recs[byID[id]].Targets, t)
	}
	return rows.Err()
}

// Prune removes the records that started before cutoff and returns how many.
func (j *Journal) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := j.db.ExecContext(ctx, `DELETE FROM records WHERE time_ns < ?`, cutoff.UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CountOlder says how many records started before cutoff (what Prune would remove).
func (j *Journal) CountOlder(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := j.db.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE time_ns < ?`, cutoff.UnixNano()).Scan(&n)
	return n, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// Check runs SQLite's integrity check: nil when the database is sound.
func (j *Journal) Check(ctx context.Context) error {
	var res string
	if err := j.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("%s: integrity check: %s", j.path, res)
	}
	return nil
}
