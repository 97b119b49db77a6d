package virt

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
)

// PoolStats reads every storage pool's size: one list call and one info call per pool (a host
// has a handful of pools, not thousands). An inactive pool reports only its name.
func (c *Conn) PoolStats(ctx context.Context) ([]model.PoolStats, error) {
	return call(ctx, c, "storage pool info", func() ([]model.PoolStats, error) {
		pools, err := c.c.ListAllStoragePools(0)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return []model.PoolStats{}, nil
			}
			return nil, err
		}
		out := make([]model.PoolStats, 0, len(pools))
		for i := range pools {
			p := &pools[i]
			name, err := p.GetName()
			if err != nil {
				_ = p.Free()
				continue // it went away while we looked
			}
			s := model.PoolStats{Name: name}
			if active, err := p.IsActive(); err == nil && active {
				if info, err := p.GetInfo(); err == nil {
					s.Active = true
					s.CapacityBytes, s.AllocationBytes, s.AvailableBytes = info.Capacity, info.Allocation, info.Available
				}
			}
			_ = p.Free()
			out = append(out, s)
		}
		return out, nil
	})
}
