package virt

import (
	"context"

	"libvirt.org/go/libvirt"
)

// Screenshot takes a picture of the domain's screen (0 for the first head) through a libvirt
// stream: its MIME type (QEMU sends PPM, image/x-portable-pixmap) and its bytes. A screen is
// a few MiB at most, so it is held in memory.
func (d *Domain) Screenshot(ctx context.Context, screen uint) (string, []byte, error) {
	type shot struct {
		mime string
		data []byte
	}
	s, err := call(ctx, d.c, "screenshot "+d.Name, func() (shot, error) {
		st, err := d.c.c.NewStream(0)
		if err != nil {
			return shot{}, err
		}
		defer func() { _ = st.Free() }()
		mime, err := d.d.Screenshot(st, uint32(screen), 0)
		if err != nil {
			return shot{}, err
		}
		var data []byte
		if err := st.RecvAll(func(_ *libvirt.Stream, b []byte) (int, error) {
			data = append(data, b...)
			return len(b), nil
		}); err != nil {
			_ = st.Abort()
			return shot{}, err
		}
		return shot{mime, data}, st.Finish()
	})
	return s.mime, s.data, err
}
