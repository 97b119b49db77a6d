package virt

import "os"

// libvirt's client library logs warnings (and, once it logs anything, "info : libvirt version
// …" and "info : hostname …" headers) straight to the process's stderr, where they land between
// hvctl's messages and break the JSON errors scripts parse. Errors reach hvctl through the error
// API (the binding installs an error handler that prints nothing), so the log is only noise
// here: unless the user asked for it, it goes to /dev/null. LIBVIRT_DEBUG or
// LIBVIRT_LOG_OUTPUTS in the environment is asking for it, and is left alone.
//
// libvirt reads these variables once, when it initialises on the first call; this runs
// before any call is made (package initialisation), and os.Setenv reaches the C environment
// that libvirt reads.
func init() { quietLibvirtLog(os.Getenv, os.Setenv) }

// libvirtLogOutputs is where libvirt's log goes when the user chose nothing: errors only, to
// nowhere.
const libvirtLogOutputs = "4:file:/dev/null"

func quietLibvirtLog(getenv func(string) string, setenv func(string, string) error) {
	if getenv("LIBVIRT_DEBUG") != "" || getenv("LIBVIRT_LOG_OUTPUTS") != "" {
		return
	}
	_ = setenv("LIBVIRT_LOG_OUTPUTS", libvirtLogOutputs)
}
