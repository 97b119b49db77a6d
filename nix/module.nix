# NixOS module: installs hvctl, writes /etc/hvctl/config.toml and declarative profiles from Nix
# attributes, and adds the systemd units a libvirt host runs hvctl from: `vmctl autostart run`
# at boot after libvirtd, and timers for `isoctl verify --all`, `hvctl audit run` and
# `vmctl snapshot prune`.
self:
{ config, lib, pkgs, ... }:
let
  cfg = config.programs.hvctl;
  toml = pkgs.formats.toml { };
  hvctl = lib.getExe cfg.package;
  profilesDir = cfg.settings.paths.profiles or "/etc/hvctl/profiles";
  libvirtd = config.virtualisation.libvirtd.enable;

  # A oneshot service that runs hvctl after libvirtd, and the timer that starts it.
  timerJob = name: job: description: lib.mkIf job.enable {
    services."hvctl-${name}" = {
      inherit description;
      after = [ "libvirtd.service" ];
      requires = [ "libvirtd.service" ];
      serviceConfig = {
        Type = "oneshot";
        ExecStart = lib.escapeShellArgs ([ hvctl ] ++ job.command ++ job.extraArgs);
      };
    };
    timers."hvctl-${name}" = {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = job.onCalendar;
        Persistent = true;
        RandomizedDelaySec = "15m";
      };
    };
  };

  jobOptions = { what, default, onCalendar, command, extraArgs ? [ ] }: {
    enable = lib.mkOption {
      type = lib.types.bool;
      inherit default;
      description = "Whether to ${what} on a timer.";
    };
    onCalendar = lib.mkOption {
      type = lib.types.str;
      default = onCalendar;
      description = "When to ${what} (systemd.time(7) calendar event).";
    };
    command = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = command;
      readOnly = true;
      internal = true;
    };
    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = extraArgs;
      description = "Arguments added to `hvctl ${lib.concatStringsSep " " command}`.";
    };
  };
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
    profiles = lib.mkOption {
      type = lib.types.attrsOf toml.type;
      default = { };
      example = {
        web = {
          vcpus = 2;
          memory = "2GiB";
          disk = { size = "20GiB"; base_image = "debian-12-genericcloud"; };
          network = [{ network = "default"; }];
          autostart = true;
        };
      };
      description = ''
        VM profiles, each written as TOML to NAME.toml in the profiles directory
        (settings.paths.profiles, /etc/hvctl/profiles by default): `vmctl create NAME --profile
        NAME` uses it, and `vmctl profile validate NAME` checks it.
      '';
    };

    autostart = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = libvirtd;
        defaultText = lib.literalExpression "config.virtualisation.libvirtd.enable";
        description = ''
          Whether to run `vmctl autostart run` at boot, after libvirtd: it starts the VMs whose
          profile says autostart = true, in the order of their groups and priorities. VMs
          without such a profile are left to libvirt's own autostart flag.
        '';
      };
      extraArgs = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        description = "Arguments added to `hvctl vm autostart run`.";
      };
    };

    verify = jobOptions {
      what = "re-hash the stored install images against their records (`isoctl verify --all`; exit 8 fails the unit when one changed)";
      default = libvirtd;
      onCalendar = "weekly";
      command = [ "iso" "verify" "--all" ];
    };
    audit = jobOptions {
      what = "audit the host and its VMs (`hvctl audit run`; findings of --fail-on severity fail the unit)";
      default = libvirtd;
      onCalendar = "daily";
      command = [ "audit" "run" ];
    };
    snapshotPrune = jobOptions {
      what = "delete the snapshots the retention policy does not keep (`vmctl snapshot prune`; off by default, as it deletes)";
      default = false;
      onCalendar = "daily";
      # A timer has no terminal to confirm on: the unit itself is the confirmation.
      command = [ "vm" "snapshot" "prune" "--yes" ];
      extraArgs = [ "--all" "--keep-last" "3" "--keep-daily" "7" "--keep-weekly" "4" ];
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      environment.systemPackages = [ cfg.package ];
      environment.etc = {
        "hvctl/config.toml" = lib.mkIf (cfg.settings != { }) {
          source = toml.generate "hvctl-config.toml" cfg.settings;
        };
      } // lib.mapAttrs'
        (name: profile: lib.nameValuePair
          (lib.removePrefix "/etc/" "${profilesDir}/${name}.toml")
          { source = toml.generate "hvctl-profile-${name}.toml" profile; })
        cfg.profiles;

      assertions = [{
        assertion = cfg.profiles == { } || lib.hasPrefix "/etc/" profilesDir;
        message = "programs.hvctl.profiles are written under /etc: settings.paths.profiles (${profilesDir}) must be below /etc";
      }];

      systemd.services.hvctl-autostart = lib.mkIf cfg.autostart.enable {
        description = "Start hvctl's autostart VMs in order";
        wantedBy = [ "multi-user.target" ];
        after = [ "libvirtd.service" "network-online.target" ];
        requires = [ "libvirtd.service" ];
        wants = [ "network-online.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs ([ hvctl "vm" "autostart" "run" ] ++ cfg.autostart.extraArgs);
        };
      };
    }
    { systemd = timerJob "verify" cfg.verify "Verify hvctl's stored install images"; }
    { systemd = timerJob "audit" cfg.audit "Audit the libvirt host and its VMs"; }
    { systemd = timerJob "snapshot-prune" cfg.snapshotPrune "Prune VM snapshots by retention policy"; }
  ]);
}
