// Command hvctl manages libvirt virtual machines; see pkg/app.
package main

import (
	"os"

	"github.com/hyper-nixos/hvctl/pkg/app"
)

func main() { os.Exit(app.Main()) }
