#!/bin/sh
# Makes or removes the /usr/bin/vmctl link to hvctl, as the package's post-install and pre-remove
# script. The link is not shipped in the package: Debian's victoria-metrics ships its own
# /usr/bin/vmctl (VictoriaMetrics's migration tool), and two packages owning one path cannot
# both be installed. So hvctl links vmctl only where the name is free, leaves another vmctl
# alone, and removes only its own link; `hvctl vm` always works. A package that later ships
# /usr/bin/vmctl replaces the unowned link.
set -e
link=/usr/bin/vmctl
case "$1" in
configure | 1 | 2) # dpkg postinst configure; rpm %post install (1) or upgrade (2)
	if [ ! -e "$link" ] && [ ! -L "$link" ]; then
		ln -s hvctl "$link"
	elif [ "$(readlink "$link" || true)" != hvctl ]; then
		echo "hvctl: $link belongs to another program (victoria-metrics?); use 'hvctl vm' or a link of your own" >&2
	fi
	;;
remove | 0) # dpkg prerm remove; rpm %preun erase (0) — not on upgrades
	if [ "$(readlink "$link" || true)" = hvctl ]; then
		rm -f "$link"
	fi
	;;
esac
exit 0
