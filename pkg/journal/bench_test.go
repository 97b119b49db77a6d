package journal

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCommand measures what the journal costs one command, against a journal that already
// holds the records of the earlier iterations:
//
//	write:      Begin and Finish on an open journal (the records themselves)
//	open-write: Open (schema check included), Begin, Finish — what hvctl does, leaving the
//	            connection to the process's exit (Abandon); here the connections of earlier
//	            iterations stay open, as other hvctl processes' would
//	open-write-close: the same with Close, whose checkpoint and WAL removal fsync: the cost
//	            Abandon spares a command
func BenchmarkCommand(b *testing.B) {
	ctx := context.Background()
	e := Entry{Command: "vmctl start", Kind: "vm", User: "root", Host: "hv1", URI: "qemu:///system",
		Argv: []string{"vmctl", "start", "web-*"}, Targets: []string{"web-*"}}
	record := func(b *testing.B, j *Journal) {
		e.Time = time.Now()
		id, err := j.Begin(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Finish(ctx, id, Outcome{Duration: time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	open := func(b *testing.B, path string) *Journal {
		j, err := Open(ctx, path, Options{Retention: 365 * 24 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		return j
	}
	b.Run("write", func(b *testing.B) {
		j := open(b, filepath.Join(b.TempDir(), FileName))
		defer j.Close()
		for range b.N {
			record(b, j)
		}
	})
	b.Run("open-write", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), FileName)
		var opened []*Journal
		defer func() {
			for _, j := range opened {
				j.Close()
			}
		}()
		for range b.N {
			j := open(b, path)
			record(b, j)
			opened = append(opened, j)
		}
	})
	b.Run("open-write-close", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), FileName)
		for range b.N {
			j := open(b, path)
			record(b, j)
			j.Close()
		}
	})
}
