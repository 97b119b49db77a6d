package vm

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// onHost is what a one-VM command found on the host that has the VM.
type onHost[T any] struct {
	Host  string
	Value T
	err   error // fn's own error: about the VM, not the host's reachability
}

// withDomainOnHosts finds the VM name on the hosts of hf (all asked at once; name may be
// qualified host:vm to ask that host only) and runs fn on it where it is. A one-VM command
// means one VM: a name on several hosts is a usage error asking for the qualified name, a name
// on none is NotFound, or partial (exit 6) when a host that did not answer may have it. A host
// that did not answer while the VM was found elsewhere is reported, and the result comes with
// the partial error (with --strict the failure is the error alone). fn's own error is the
// error, with the host named.
func withDomainOnHosts[T any](ctx context.Context, f *cmdutil.Factory, cmd *cobra.Command, hf *cmdutil.HostFlags, name string, readOnly bool,
	fn func(ctx context.Context, d *virt.Domain) (T, error)) (*onHost[T], error) {
	hosts, err := f.ResolveHosts(hf)
	if err != nil {
		return nil, err
	}
	if err := f.CheckHostQualifiers([]string{name}, hosts); err != nil {
		return nil, err
	}
	isHost := cmdutil.IsHostIn(hosts)
	bare := name
	if h, rest, ok := strings.Cut(name, ":"); ok && isHost(h) {
		bare = rest
	}
	if err := cmdutil.ValidateLookupName("VM", bare); err != nil {
		return nil, err
	}
	hits, fanErr := cmdutil.FanOut(ctx, f, cmd, hf, hosts, readOnly, func(ctx context.Context, h cmdutil.Host, conn *virt.Conn) ([]onHost[T], error) {
		if _, applies := cmdutil.PatternsForHost([]string{name}, h.Name, isHost); !applies {
			return nil, nil
		}
		d, err := conn.Domain(ctx, bare)
		if errs.KindOf(err) == errs.NotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer d.Free()
		v, err := fn(ctx, d)
		return []onHost[T]{{h.Name, v, err}}, nil
	})
	switch {
	case hits == nil && fanErr != nil && errs.KindOf(fanErr) != errs.Partial:
		return nil, fanErr
	case len(hits) > 1:
		var on []string
		for _, h := range hits {
			on = append(on, h.Host)
		}
		return nil, errs.New(errs.Usage, "VM %s is on several hosts: %s", output.Escape(bare), strings.Join(on, ", ")).
			WithHint("name the one you mean as %s:%s", on[0], output.Escape(bare))
	case len(hits) == 0 && fanErr != nil:
		return nil, &errs.Error{Kind: errs.Partial, Msg: "VM " + output.Escape(name) + " is on none of the hosts that answered (" + fanErr.Error() + ")", Err: fanErr}
	case len(hits) == 0:
		return nil, errs.New(errs.NotFound, "VM %s not found on %s", output.Escape(name), hostList(hosts))
	}
	if err := hits[0].err; err != nil {
		return nil, errs.Wrap(err, "host %s", hits[0].Host)
	}
	return &hits[0], fanErr
}

// hostList names the hosts asked, for a message.
func hostList(hosts []cmdutil.Host) string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	if len(names) == 1 {
		return "host " + names[0]
	}
	return "hosts " + strings.Join(names, ", ")
}
