# NixOS VM test: ullmd as a system service with the llama.cpp backend and a tiny model.
# Run with `nix flake check` (or `nix build .#checks.x86_64-linux.vm`) on a host with KVM.
{ self }:
{
  name = "unified-llm";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];

      virtualisation.memorySize = 2048;
      virtualisation.cores = 2;

      services.unified-llm = {
        enable = true;
        settings.server.tcp_listen = "127.0.0.1:9000";
        models.tiny = {
          source = pkgs.callPackage ./tiny-model.nix { };
          aliases = [ "tiny-chat" ];
          context = 256;
          gpuLayers = 0;
        };
        slice.memoryMax = "1G";
      };

      # The same host with one model setting changed: switching to it must reload ullmd, not restart it.
      specialisation.longer-ttl.configuration = {
        services.unified-llm.models.tiny.ttlSeconds = 1200;
      };

      users.users.alice = {
        isNormalUser = true;
        extraGroups = [ "ullm-admin" ];
      };
      users.users.bob.isNormalUser = true;

      environment.systemPackages = [
        pkgs.curl
        pkgs.jq
      ];
    };

  testScript = ''
    import json

    socket = "/run/unified-llm/openai.sock"
    api = f"curl --fail --silent --show-error --max-time 180 --unix-socket {socket} http://localhost"

    machine.wait_for_unit("unified-llm.service")
    machine.wait_for_file(socket)

    def main_pid(unit):
        return machine.succeed(f"systemctl show -p MainPID --value {unit}").strip()

    def backend_units():
        """Running services in ullm.slice (ullmd's backends), with their main PIDs."""
        units = machine.succeed("systemctl list-units --type=service --state=running --plain --no-legend | awk '{print $1}'").split()
        return {unit: main_pid(unit) for unit in units
                if machine.succeed(f"systemctl show -p Slice --value {unit}").strip() == "ullm.slice"}

    with subtest("the unit is hardened as the module says"):
        unit = machine.succeed("systemctl cat unified-llm.service")
        for line in ["Type=notify", "ProtectSystem=strict", "NoNewPrivileges=true", "RuntimeDirectory=unified-llm",
                     "DevicePolicy=closed", "DeviceAllow=char-nvidia-frontend rw",
                     "/bin/ullmd\" \"--config\" \"/etc/unified-llm/config.toml\"", "X-Reload-Triggers="]:
            assert line in unit, f"{line} missing from:\n{unit}"
        assert "PrivateDevices" not in unit, unit

    with subtest("/v1/models over the unix socket lists the configured model"):
        models = json.loads(machine.succeed(f"{api}/v1/models"))
        ids = [model["id"] for model in models["data"]]
        assert "tiny" in ids, ids

    with subtest("a chat completion loads the model as a transient unit in ullm.slice"):
        body = json.dumps({"model": "tiny-chat", "max_tokens": 8, "ignore_eos": True,
                           "messages": [{"role": "user", "content": "hello"}]})
        reply = json.loads(machine.succeed(f"{api}/v1/chat/completions -H 'Content-Type: application/json' -d '{body}'"))
        assert reply["choices"][0]["message"]["role"] == "assistant", reply
        assert reply["usage"]["completion_tokens"] >= 1, reply
        # Whatever ullmd names its backend units, one running service must sit in ullm.slice.
        machine.succeed(
            "systemctl list-units --type=service --state=running --plain --no-legend"
            " | awk '{print $1}' | xargs -n1 systemctl show -p Slice --value | grep -qx ullm.slice"
        )
        assert machine.succeed("systemctl show -p MemoryMax --value ullm.slice").strip() == str(1024 ** 3)

    with subtest("a model setting changed by switch-to-configuration reloads ullmd: its PID and the model's unit survive"):
        pid = main_pid("unified-llm.service")
        backends = backend_units()
        assert len(backends) == 1, backends
        machine.succeed("ullmctl model show tiny | grep -Eq '^ttl +[0-9]+s$|never unloads'")
        machine.succeed("/run/current-system/specialisation/longer-ttl/bin/switch-to-configuration test")
        machine.wait_until_succeeds("ullmctl model show tiny | grep -Eq '^ttl +1200s$'", timeout=60)
        assert main_pid("unified-llm.service") == pid, "ullmd was restarted instead of reloaded"
        assert backend_units() == backends, f"the backend changed: {backends} -> {backend_units()}"
        machine.succeed("journalctl -u unified-llm.service --no-pager | grep -q 'Reloading unified-llm daemon'")

    with subtest("the TCP listener requires an API key (security.require_key_on_tcp defaults to true)"):
        status = machine.succeed("curl --silent --max-time 30 -o /dev/null -w '%{http_code}' http://127.0.0.1:9000/v1/models")
        assert status.strip() == "401", status

    with subtest("ullmctl status works for root and the admin group only"):
        machine.succeed("ullmctl status")
        machine.succeed("su - alice -c 'ullmctl status'")
        machine.fail("su - bob -c 'ullmctl status'")

    with subtest("reload and stop are clean"):
        machine.succeed("systemctl reload unified-llm.service")
        machine.wait_for_unit("unified-llm.service")
        machine.succeed("systemctl stop unified-llm.service")
  '';
}
