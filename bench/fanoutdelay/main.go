// Command fanoutdelay puts network latency in front of the local libvirtd for bench/fanout.sh:
// each PATH=RTT argument is a unix socket whose connections are forwarded to the daemon's own
// socket (-target), every chunk of bytes held for half of RTT in each direction, as a link
// with that round-trip time would: chunks are pipelined, not serialized, so only latency is
// added, not a bandwidth limit. Unix sockets only, at paths that must not exist yet (the
// bench makes them in a fresh temporary directory; nothing is removed to make room): no
// traffic leaves this machine. It stops on SIGINT/SIGTERM or after -for, removing its
// sockets. Not a test.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	target := flag.String("target", "/run/libvirt/libvirt-sock", "the libvirtd `SOCKET` to forward to")
	life := flag.Duration("for", time.Hour, "stop by itself after `DURATION`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: fanoutdelay [-target SOCKET] [-for DURATION] PATH=RTT...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	type endpoint struct {
		path string
		rtt  time.Duration
	}
	var endpoints []endpoint
	for _, arg := range flag.Args() {
		path, rtt, err := parseEndpoint(arg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fanoutdelay: %v\n", err)
			os.Exit(2)
		}
		endpoints = append(endpoints, endpoint{path, rtt})
	}
	var listeners []net.Listener
	// A unix listener removes its socket file on close.
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}
	for _, e := range endpoints {
		// Binding fails on a path that exists (the daemon's own socket included).
		ln, err := net.Listen("unix", e.path)
		if err != nil {
			closeAll()
			fmt.Fprintf(os.Stderr, "fanoutdelay: %v\n", err)
			os.Exit(1)
		}
		listeners = append(listeners, ln)
		go serve(ln, *target, e.rtt/2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case <-time.After(*life):
	}
	closeAll()
}

// parseEndpoint splits PATH=RTT.
func parseEndpoint(arg string) (string, time.Duration, error) {
	path, v, ok := strings.Cut(arg, "=")
	if !ok || path == "" {
		return "", 0, fmt.Errorf("%q: want PATH=RTT, e.g. /tmp/h1.sock=50ms", arg)
	}
	rtt, err := time.ParseDuration(v)
	if err != nil || rtt < 0 {
		return "", 0, fmt.Errorf("%q: RTT: want a duration such as 50ms", arg)
	}
	return path, rtt, nil
}

// serve forwards every connection of ln to target, oneWay late in each direction.
func serve(ln net.Listener, target string, oneWay time.Duration) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			daemon, err := net.Dial("unix", target)
			if err != nil {
				fmt.Fprintf(os.Stderr, "fanoutdelay: %v\n", err)
				client.Close()
				return
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); relay(daemon, client, oneWay) }()
			go func() { defer wg.Done(); relay(client, daemon, oneWay) }()
			wg.Wait()
			client.Close()
			daemon.Close()
		}()
	}
}

// relay copies src to dst, each chunk written delay after it was read; reading goes on
// meanwhile, so several chunks can be in flight, as on a real link. At the end of src it
// closes dst for writing; when dst fails, it closes src so that its reader stops too.
func relay(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	inFlight := make(chan chunk, 4096)
	go func() {
		defer close(inFlight)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				inFlight <- chunk{bytes.Clone(buf[:n]), time.Now().Add(delay)}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					fmt.Fprintf(os.Stderr, "fanoutdelay: %v\n", err)
				}
				return
			}
		}
	}()
	for c := range inFlight {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			for range inFlight { // let the reader finish
			}
			return
		}
	}
	if uc, ok := dst.(*net.UnixConn); ok {
		_ = uc.CloseWrite()
	}
}
