package events

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

func TestWriter(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 1, 123456789, time.UTC)
	ev := model.Event{Time: at.Format(TimeFormat), Seq: 7, Host: "h1", Kind: "vm", Name: "web\x1b[2J01", UUID: "u-1",
		Type: "device_removed", Detail: "virtio-disk1", Data: model.EventDeviceData{DevAlias: "virtio-disk1"}}
	var b bytes.Buffer
	w := NewWriter(&b, output.Format{Kind: output.JSON, Pretty: true})
	if err := w.Send(ev); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-12-03T12:00:01.123456789Z","seq":7,"host":"h1","kind":"vm","name":"web\u001b[2J01","uuid":"u-1","type":"device_removed","detail":"virtio-disk1","data":{"dev_alias":"virtio-disk1"}}` + "\n"
	if b.String() != want {
		t.Errorf("NDJSON (compact on a terminal too):\n got %s\nwant %s", b.String(), want)
	}
	b.Reset()
	w = NewWriter(&b, output.Format{Kind: output.Table})
	if err := w.Send(ev); err != nil {
		t.Fatal(err)
	}
	line := b.String()
	local := at.Local().Format("2006-01-02 15:04:05.000")
	if line != local+` vm      web\x1b[2J01 device_removed virtio-disk1 dev_alias=virtio-disk1`+"\n" {
		t.Errorf("readable line (escaped):\n got %q\nwant %q", line, local+` vm      web\x1b[2J01 device_removed virtio-disk1 dev_alias=virtio-disk1`+"\n")
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("one line per record: %q", line)
	}
}
