# NixOS module: installs hvctl, writes /etc/hvctl/config.toml and declarative profiles from Nix
# attributes, and adds the systemd units a libvirt host runs hvctl from: `vmctl autostart run`
# at boot after libvirtd, timers for `isoctl verify --all`, `hvctl audit run`,
# `vmctl snapshot prune` and `hvctl metrics record`, (eventsPublisher) `vmctl events`
# publishing libvirt events to NATS, and (metrics) the exporter `hvctl metrics serve` and the
# node_exporter textfile timer.
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

  # systemd sandboxing for the metrics units: they only read libvirt (the read-only socket) and
  # the image stores, and write nothing but the textfile.
  metricsHardening = {
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" ];
    UMask = "0022";
  };
  metricsUser = m: lib.optionalAttrs m.dynamicUser { DynamicUser = true; };

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

    # Monitoring (issue 11): the Prometheus exporter and the node_exporter textfile timer.
    metrics = {
      exporter = {
        enable = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = ''
            Whether to run `hvctl metrics serve`, a Prometheus exporter of every VM of this host
            (libvirt exporter metric names; /metrics and /healthz).
          '';
        };
        listenAddress = lib.mkOption {
          type = lib.types.str;
          default = "127.0.0.1:9177";
          example = "[::]:9177";
          description = ''
            HOST:PORT to serve on (`--listen`). Loopback by default: the exporter has no
            authentication, so put a reverse proxy in front before listening elsewhere.
          '';
        };
        scrapeTimeout = lib.mkOption {
          type = lib.types.str;
          default = "10s";
          example = "5s";
          description = ''
            Deadline of each scrape (`--scrape-timeout`), below Prometheus's scrape_timeout. A VM
            whose QEMU does not answer is reported with libvirt_domain_timed_out 1 by then; when
            libvirt itself does not answer, libvirt_up is 0.
          '';
        };
        openFirewall = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = "Whether to open listenAddress's port in the firewall.";
        };
        hardening = lib.mkOption {
          type = lib.types.bool;
          default = true;
          description = ''
            Whether to sandbox the service with systemd (no capabilities, read-only system,
            no new privileges, a system-call filter, Unix and IP sockets only). It keeps working
            with all of it: it only reads libvirt's read-only socket and the image stores.
          '';
        };
        dynamicUser = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = ''
            Whether to run as a transient unprivileged user instead of root (without
            capabilities). libvirt's read-only socket is enough for every VM series, but the
            image stores (0711, root's) cannot be listed then, so
            hvctl_image_last_verified_timestamp_seconds is missing.
          '';
        };
        extraArgs = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          description = "Arguments added to `hvctl metrics serve`.";
        };
      };
      textfile = {
        enable = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = ''
            Whether to write the metrics for node_exporter's textfile collector from a timer
            (`hvctl metrics --textfile DIR`, atomically, as DIR/hvctl.prom). Point node_exporter
            at it: services.prometheus.exporters.node.extraFlags =
            [ "--collector.textfile.directory=DIR" ] with "textfile" in enabledCollectors.
          '';
        };
        directory = lib.mkOption {
          type = lib.types.str;
          default = "/var/lib/prometheus-node-exporter-text-files";
          description = "The directory node_exporter's textfile collector reads (created 0755).";
        };
        onCalendar = lib.mkOption {
          type = lib.types.str;
          default = "minutely";
          description = "When to write it (systemd.time(7) calendar event).";
        };
        scrapeTimeout = lib.mkOption {
          type = lib.types.str;
          default = "20s";
          description = "Deadline of each run's scrape (`--scrape-timeout`).";
        };
        hardening = lib.mkOption {
          type = lib.types.bool;
          default = true;
          description = "Whether to sandbox the unit as the exporter's hardening does (root without capabilities; it may write only the directory).";
        };
      };
    };

    eventsPublisher = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Whether to run `vmctl events` as a service that publishes every libvirt event to NATS,
          on subjects hvctl.<host>.vm.<uuid>.<type> (network and pool events too, see kinds). It
          reconnects to libvirtd and to the broker by itself; events wait in a bounded queue
          while the broker is down.
        '';
      };
      natsUrl = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "nats://broker.example.net:4222";
        description = ''
          The broker (nats:// or tls://). Null: settings.events.nats_url (`vmctl events --publish`).
        '';
      };
      credentialsFile = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = null;
        example = "/run/keys/hvctl-nats.creds";
        description = ''
          A NATS .creds file, handed to the service with systemd's LoadCredential (so it may stay
          readable by root only; hvctl refuses a credentials file that others can read).
        '';
      };
      kinds = lib.mkOption {
        type = lib.types.listOf (lib.types.enum [ "vm" "network" "pool" ]);
        default = [ "vm" "network" "pool" ];
        description = "Objects whose events are published (`vmctl events --kind`).";
      };
      extraArgs = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        example = [ "--type" "lifecycle,agent_lifecycle" "--nats-buffer" "50000" ];
        description = "Arguments added to `vmctl events`.";
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
    # The metrics history: `hvctl metrics record` on a short, fixed interval (a rate in
    # `vmctl stats --since` covers the time between two records).
    metricsRecord = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Whether to append one sample of every running VM to the metrics history
          (paths.state/metrics.db) every `interval` with `hvctl metrics record`, for
          `vmctl stats --since`.
        '';
      };
      interval = lib.mkOption {
        type = lib.types.str;
        default = "1min";
        example = "5min";
        description = "How often to record (systemd.time(7) time span); rates are averages over it.";
      };
      retention = lib.mkOption {
        type = lib.types.str;
        default = cfg.settings.metrics.retention or "30d";
        defaultText = lib.literalExpression ''config.programs.hvctl.settings.metrics.retention or "30d"'';
        example = "7d";
        description = "Samples older than this are pruned at each record (`--retention`; e.g. 12h, 30d, 2w).";
      };
      maxRows = lib.mkOption {
        type = lib.types.ints.unsigned;
        default = cfg.settings.metrics.max_rows or 2000000;
        defaultText = lib.literalExpression "config.programs.hvctl.settings.metrics.max_rows or 2000000";
        description = "At most this many samples (one per VM per record) are kept, the newest; 0 for no cap (`--max-rows`).";
      };
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
    (let ev = cfg.eventsPublisher; in lib.mkIf ev.enable {
      assertions = [{
        assertion = ev.natsUrl != null || (cfg.settings.events.nats_url or null) != null;
        message = "programs.hvctl.eventsPublisher needs natsUrl or settings.events.nats_url";
      }];
      systemd.services.hvctl-events = {
        description = "Publish libvirt events to NATS (vmctl events)";
        wantedBy = [ "multi-user.target" ];
        after = [ "libvirtd.service" "network-online.target" ];
        wants = [ "libvirtd.service" "network-online.target" ];
        serviceConfig = {
          ExecStart = lib.escapeShellArgs ([ hvctl "vm" "events" "--kind" (lib.concatStringsSep "," ev.kinds) ]
            ++ (if ev.natsUrl != null then [ "--nats" ev.natsUrl ] else [ "--publish" ])
            ++ lib.optionals (ev.credentialsFile != null) [ "--nats-creds" "%d/nats.creds" ]
            ++ ev.extraArgs);
          LoadCredential = lib.optional (ev.credentialsFile != null) "nats.creds:${ev.credentialsFile}";
          # vmctl events ends only when it cannot connect at its start (libvirtd not up yet).
          Restart = "always";
          RestartSec = "5s";
          # SIGTERM (systemctl stop) ends the stream with hvctl's "interrupted" status.
          SuccessExitStatus = [ 130 ];
          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
        };
      };
    })
    (let m = cfg.metrics.exporter; in lib.mkIf m.enable {
      systemd.services.hvctl-metrics = {
        description = "Prometheus exporter of the libvirt host's VMs (hvctl metrics serve)";
        wantedBy = [ "multi-user.target" ];
        after = [ "libvirtd.service" "network.target" ];
        wants = [ "libvirtd.service" ];
        serviceConfig = {
          ExecStart = lib.escapeShellArgs ([ hvctl "metrics" "serve" "--listen" m.listenAddress
            "--scrape-timeout" m.scrapeTimeout ] ++ m.extraArgs);
          # serve reconnects to libvirtd by itself; it ends only when it cannot listen.
          Restart = "on-failure";
          RestartSec = "5s";
        } // metricsUser m // lib.optionalAttrs m.hardening metricsHardening;
      };
      networking.firewall.allowedTCPPorts = lib.mkIf m.openFirewall
        [ (lib.toInt (lib.last (lib.splitString ":" m.listenAddress))) ];
    })
    (let m = cfg.metrics.textfile; in lib.mkIf m.enable {
      systemd.tmpfiles.rules = [ "d ${m.directory} 0755 root root - -" ];
      systemd.services.hvctl-metrics-textfile = {
        description = "Write the libvirt host's VM metrics for node_exporter (hvctl metrics --textfile)";
        after = [ "libvirtd.service" ];
        wants = [ "libvirtd.service" ];
        serviceConfig = {
          Type = "oneshot";
          ExecStart = lib.escapeShellArgs [ hvctl "metrics" "--textfile" m.directory "--scrape-timeout" m.scrapeTimeout "--quiet" ];
          ReadWritePaths = [ m.directory ];
        } // lib.optionalAttrs m.hardening metricsHardening;
      };
      systemd.timers.hvctl-metrics-textfile = {
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = m.onCalendar;
          AccuracySec = "1s";
        };
      };
    })
    { systemd = timerJob "verify" cfg.verify "Verify hvctl's stored install images"; }
    { systemd = timerJob "audit" cfg.audit "Audit the libvirt host and its VMs"; }
    { systemd = timerJob "snapshot-prune" cfg.snapshotPrune "Prune VM snapshots by retention policy"; }
    (lib.mkIf cfg.metricsRecord.enable {
      systemd.services.hvctl-metrics-record = {
        description = "Record VM statistics into hvctl's metrics history";
        after = [ "libvirtd.service" ];
        wants = [ "libvirtd.service" ];
        serviceConfig = {
          Type = "oneshot";
          ExecStart = lib.escapeShellArgs [ hvctl "-q" "metrics" "record"
            "--retention" cfg.metricsRecord.retention "--max-rows" (toString cfg.metricsRecord.maxRows) ];
        };
      };
      systemd.timers.hvctl-metrics-record = {
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnActiveSec = cfg.metricsRecord.interval;
          OnUnitActiveSec = cfg.metricsRecord.interval;
          AccuracySec = "1s"; # records keep their spacing; the rates are averages over it
        };
      };
    })
  ]);
}
