package journal

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCommand measures what the journal adds to one command: open the database (schema
// check included), append the starting record, complete it, close — against a journal that
// already holds b.N records, as on a host that has been running for a while.
func BenchmarkCommand(b *testing.B) {
	path := filepath.Join(b.TempDir(), FileName)
	ctx := context.Background()
	e := Entry{Command: "vmctl start", Kind: "vm", User: "root", Host: "hv1", URI: "qemu:///system",
		Argv: []string{"vmctl", "start", "web-*"}, Targets: []string{"web-*"}}
	results := Outcome{Duration: time.Second, Results: nil}
	b.ResetTimer()
	for range b.N {
		j, err := Open(ctx, path, Options{Retention: 365 * 24 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		e.Time = time.Now()
		id, err := j.Begin(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Finish(ctx, id, results); err != nil {
			b.Fatal(err)
		}
		j.Close()
	}
}
