{
  description = "hvctl: manage libvirt virtual machines, install media, networks and audits";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAll (pkgs: rec {
        hvctl = pkgs.callPackage ./nix/package.nix {
          version = self.shortRev or self.dirtyShortRev or "dev";
          commit = self.rev or "";
        };
        default = hvctl;
      });

      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.system}.hvctl ];
          packages = [ pkgs.gopls pkgs.go-tools pkgs.libvirt pkgs.qemu_kvm ];
        };
      });

      nixosModules.default = import ./nix/module.nix self;
    };
}
