// Command gen-docs writes man/ and completions/ from the command tree, for hvctl and each link
// name. With -check it writes nothing and fails when the committed files are stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func main() {
	check := flag.Bool("check", false, "compare with the files on disk instead of writing them")
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
	if *check {
		if stale := compare(*root, files); len(stale) > 0 {
			fmt.Fprintf(os.Stderr, "gen-docs: stale generated files (run: go run ./cmd/gen-docs):\n  %s\n", strings.Join(stale, "\n  "))
			os.Exit(1)
		}
		return
	}
	for _, dir := range []string{"man", "completions"} {
		if err := os.RemoveAll(filepath.Join(*root, dir)); err != nil {
			fmt.Fprintln(os.Stderr, "gen-docs:", err)
			os.Exit(1)
		}
	}
	for name, data := range files {
		p := filepath.Join(*root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen-docs:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen-docs:", err)
			os.Exit(1)
		}
	}
}

// generate renders every file into memory, keyed by path relative to the repository root.
func generate() (map[string][]byte, error) {
	files := map[string][]byte{}
	progs := []string{"hvctl"}
	for _, l := range app.Links {
		progs = append(progs, l.Name)
	}
	for _, prog := range progs {
		root := app.NewRoot(cmdutil.New(prog), prog)
		if err := manPages(root, files); err != nil {
			return nil, err
		}
		var bash, zsh, fish bytes.Buffer
		if err := root.GenBashCompletionV2(&bash, true); err != nil {
			return nil, err
		}
		if err := root.GenZshCompletion(&zsh); err != nil {
			return nil, err
		}
		if err := root.GenFishCompletion(&fish, true); err != nil {
			return nil, err
		}
		files["completions/"+prog+".bash"] = bash.Bytes()
		files["completions/_"+prog] = zsh.Bytes()
		files["completions/"+prog+".fish"] = fish.Bytes()
	}
	return files, nil
}

func manPages(cmd *cobra.Command, files map[string][]byte) error {
	if cmd.Hidden || !cmd.IsAvailableCommand() && cmd.HasParent() {
		return nil
	}
	cmd.DisableAutoGenTag = true
	cmdutil.ShowTimeoutDefault(cmd) // the one --timeout flag, with this command's default
	// A fixed date keeps the pages reproducible (and the freshness check meaningful).
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	header := &doc.GenManHeader{Title: strings.ToUpper(strings.ReplaceAll(cmd.CommandPath(), " ", "-")), Section: "1", Source: "hvctl", Manual: "hvctl manual", Date: &date}
	var buf bytes.Buffer
	if err := doc.GenMan(cmd, header, &buf); err != nil {
		return err
	}
	extra := exitStatus() + envSection + filesSection
	page := strings.Replace(buf.String(), "\n.SH SEE ALSO", "\n"+extra+".SH SEE ALSO", 1)
	if !strings.Contains(page, ".SH EXIT STATUS") {
		page += extra
	}
	files["man/"+strings.ReplaceAll(cmd.CommandPath(), " ", "-")+".1"] = []byte(page)
	for _, c := range cmd.Commands() {
		if err := manPages(c, files); err != nil {
			return err
		}
	}
	return nil
}

// envSection is the ENVIRONMENT section of every page.
const envSection = `.SH ENVIRONMENT
.TP
\fBHVCTL_URI\fP, \fBLIBVIRT_DEFAULT_URI\fP
the libvirt URI (or a host name from the configuration's [hosts] table) when \fB--connect\fP is not given; HVCTL_URI wins
.TP
\fBHVCTL_\fP\fIKEY\fP
any configuration key in capitals with dots as underscores, e.g. HVCTL_VM_DEFAULTS_MEMORY=2GiB or HVCTL_PATHS_ISOS=/srv/isos; wins over the files, loses to flags
.TP
\fBXDG_CONFIG_HOME\fP
where the per-user configuration file lives (default ~/.config)
.TP
\fBNO_COLOR\fP
no colour, whatever the terminal
.TP
\fBLIBVIRT_DEBUG\fP, \fBLIBVIRT_LOG_OUTPUTS\fP
let libvirt's own log through (to stderr, or where the outputs say); by default hvctl discards it so stderr carries only hvctl's messages
`

// filesSection is the FILES section of every page.
const filesSection = `.SH FILES
.TP
\fI/etc/hvctl/config.toml\fP
the system-wide configuration
.TP
\fI$XDG_CONFIG_HOME/hvctl/config.toml\fP
the per-user configuration, read after the system-wide one (\fB--config\fP \fIFILE\fP replaces both)
.TP
\fI/etc/hvctl/profiles\fP
VM profiles (TOML), by name (paths.profiles)
.TP
\fI/var/lib/hvctl/isos\fP, \fI/var/lib/hvctl/images\fP
the image stores, with a NAME.record.json provenance record beside each image (paths.isos, paths.images)
`

func exitStatus() string {
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n.TP\n\\fB0\\fP\nsuccess (an empty list is success)\n")
	for _, k := range errs.Kinds() {
		fmt.Fprintf(&b, ".TP\n\\fB%d\\fP\n%s\n", k.ExitCode(), k.Describe())
	}
	return b.String()
}

func compare(root string, files map[string][]byte) []string {
	var stale []string
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, want) {
			stale = append(stale, name)
		}
	}
	for _, dir := range []string{"man", "completions"} {
		_ = filepath.Walk(filepath.Join(root, dir), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				rel, _ := filepath.Rel(root, p)
				if _, ok := files[rel]; !ok {
					stale = append(stale, rel+" (not generated any more)")
				}
			}
			return nil
		})
	}
	sort.Strings(stale)
	return stale
}
