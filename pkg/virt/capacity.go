package virt

import "context"

// HostMemory is the host's physical memory in bytes (virNodeGetInfo), what evacuate weighs the
// memory its running guests hold against.
func (c *Conn) HostMemory(ctx context.Context) (uint64, error) {
	node, err := call(ctx, c, "host info", c.c.GetNodeInfo)
	if err != nil {
		return 0, err
	}
	return node.Memory * 1024, nil
}
