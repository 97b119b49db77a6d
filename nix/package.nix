# hvctl for Nix: one cgo binary linked against libvirt, plus its links, man pages and
# completions (all generated from the command tree and committed under man/ and completions/).
{ lib, buildGoModule, pkg-config, libvirt, installShellFiles, version ? "dev", commit ? "" }:

buildGoModule {
  pname = "hvctl";
  inherit version;
  src = lib.cleanSource ../.;

  # NAR hash of `go mod vendor`; scripts/check-packaging.sh recomputes it and fails when stale.
  vendorHash = "sha256-tHLTJgQnc4Lc3dz36FqiJG+Rod6VLxxZ3PXI53Z3mbU=";

  subPackages = [ "cmd/hvctl" ];
  nativeBuildInputs = [ pkg-config installShellFiles ];
  buildInputs = [ libvirt ];
  env.CGO_ENABLED = "1";

  ldflags = [
    "-s" "-w"
    "-X github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd.Version=${version}"
    "-X github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd.Commit=${commit}"
  ];

  # The end-to-end tests need a libvirtd; the sandbox runs the others.
  checkFlags = [ "-skip" "TestLifecycle" ];

  postInstall = ''
    # auditctl is left out on purpose: it would shadow Linux audit's /sbin/auditctl.
    for link in vmctl isoctl netctl; do
      ln -s hvctl $out/bin/$link
    done
    installManPage man/hvctl*.1 man/vmctl*.1 man/isoctl*.1 man/netctl*.1
    for prog in hvctl vmctl isoctl netctl; do
      installShellCompletion --cmd $prog \
        --bash completions/$prog.bash --zsh completions/_$prog --fish completions/$prog.fish
    done
  '';

  meta = {
    description = "Manage libvirt virtual machines, install media, networks and audits";
    mainProgram = "hvctl";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
  };
}
