# NixOS module: installs hvctl and writes /etc/hvctl/config.toml from Nix attributes.
self:
{ config, lib, pkgs, ... }:
let
  cfg = config.programs.hvctl;
  toml = pkgs.formats.toml { };
in
{
  options.programs.hvctl = {
    enable = lib.mkEnableOption "hvctl, the libvirt VM toolkit";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.system}.default;
      description = "The hvctl package.";
    };
    settings = lib.mkOption {
      type = toml.type;
      default = { };
      example = { uri = "qemu:///system"; vm.defaults = { vcpus = 2; memory = "2GiB"; domain_type = "kvm"; }; };
      description = "Contents of /etc/hvctl/config.toml; unknown keys make hvctl fail with file:line:col.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];
    environment.etc."hvctl/config.toml" = lib.mkIf (cfg.settings != { }) {
      source = toml.generate "hvctl-config.toml" cfg.settings;
    };
  };
}
